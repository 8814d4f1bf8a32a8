import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyStore } from './copy.js';
import { MemoryStore } from './memory/index.js';
import type { BatchItem, TableSpec } from './wide-column.js';

const tables: TableSpec[] = [{ name: 'accounts' }, { name: 'archive' }];

/** A memory store that records the partitions every batchPut wrote. */
class RecordingStore extends MemoryStore {
  written: string[] = [];
  override async batchPut(items: readonly BatchItem[]): Promise<void> {
    for (const it of items) this.written.push(`${it.table}/${it.pk}`);
    await super.batchPut(items);
  }
}

async function seededSource(): Promise<MemoryStore> {
  const source = new MemoryStore();
  await source.ensureTables(tables);
  for (const t of tables) {
    for (let p = 0; p < 5; p++) {
      await source.batchPut(Array.from({ length: 3 }, (_, i) => ({ table: t.name, pk: `p${p}`, sk: `s${i}`, value: `${t.name}:${p}:${i}` })));
    }
  }
  return source;
}

describe('copyStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sori-copy-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes after the last finished partition of an interrupted copy', async () => {
    const source = await seededSource();
    const target = new RecordingStore();
    const checkpoint = join(dir, 'copy.json');
    let finished = 0;
    let error: unknown;
    await copyStore(source, target, tables, {
      resumeFrom: checkpoint,
      onProgress: ({ table, pk }) => {
        if (table === 'archive' && ++finished === 2) throw new Error(`interrupted after ${pk}`);
      },
    }).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal('interrupted after p1');
    expect(JSON.parse(readFileSync(checkpoint, 'utf8'))).to.deep.equal({
      accounts: { done: true, rows: 15, lastPk: 'p4' },
      archive: { done: false, rows: 6, lastPk: 'p1' },
    });

    const resumed = new RecordingStore();
    // The resumed run writes into the same target data: copy what the first run wrote.
    await copyStore(target, resumed, tables);
    resumed.written = [];
    const result = await copyStore(source, resumed, tables, { resumeFrom: checkpoint });
    expect([...new Set(resumed.written)]).to.deep.equal(['archive/p2', 'archive/p3', 'archive/p4']);
    expect(result.tables).to.deep.equal({
      accounts: { copied: 15, source: 15, target: 15 },
      archive: { copied: 15, source: 15, target: 15 },
    });
    expect(result.mismatched).to.deep.equal([]);
  });

  it('starts a table over when its checkpointed partition is gone', async () => {
    const source = await seededSource();
    const checkpoint = join(dir, 'copy.json');
    const target = new RecordingStore();
    await copyStore(source, target, tables.slice(0, 1), {
      resumeFrom: checkpoint,
      onProgress: ({ pk }) => {
        if (pk === 'p2') throw new Error('stop');
      },
    }).catch(() => {});
    await source.deletePartition('accounts', 'p2');
    target.written = [];
    const result = await copyStore(source, target, tables.slice(0, 1), { resumeFrom: checkpoint });
    expect([...new Set(target.written)]).to.deep.equal(['accounts/p0', 'accounts/p1', 'accounts/p3', 'accounts/p4']);
    expect(result.tables.accounts).to.deep.equal({ copied: 12, source: 12, target: 15 });
    expect(result.mismatched).to.deep.equal(['accounts'], 'the target still holds the partition deleted from the source');
  });

  it('carries each row\'s remaining TTL to the target', async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    await source.ensureTables(tables);
    await source.put('accounts', 'p', 'ttl', 'v', { ttlSeconds: 300 });
    await source.put('accounts', 'p', 'plain', 'v');
    const result = await copyStore(source, target, tables.slice(0, 1));
    expect(result.tables.accounts).to.deep.equal({ copied: 2, source: 2, target: 2 });
    const rows = await target.range('accounts', 'p');
    expect(rows.find((r) => r.sk === 'plain')?.expiresAt).to.equal(undefined);
    expect(rows.find((r) => r.sk === 'ttl')?.expiresAt).to.be.within(Date.now() / 1000 + 298, Date.now() / 1000 + 302);
  });
});
