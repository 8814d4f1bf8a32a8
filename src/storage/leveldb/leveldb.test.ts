import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTRACT_TABLES, runStoreContract } from '../contract.js';
import { COMPACTION_NICE } from './background-priority.js';
import { LevelStore } from './index.js';
import { decodeRowKey, rowKey } from './key-codec.js';

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sori-leveldb-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runStoreContract('leveldb', {
  open: async () => new LevelStore(freshDir()),
  unreachable: async () => {
    const store = new LevelStore(freshDir());
    await store.ensureTables(CONTRACT_TABLES);
    await store.close();
    return store;
  },
});

// Read-mostly contract tables are served from the partition cache above; this run reads them from disk.
runStoreContract('leveldb without its read cache', {
  open: async () => new LevelStore(freshDir(), { cacheBytes: 0 }),
  unreachable: async () => {
    const store = new LevelStore(freshDir(), { cacheBytes: 0 });
    await store.ensureTables(CONTRACT_TABLES);
    await store.close();
    return store;
  },
});

describe('LevelStore specifics', () => {
  it('round-trips keys holding separator and escape bytes', () => {
    for (const [table, pk, sk] of [['t', 'a\u0000b', '\u0001\u0000'], ['t', '', ''], ['t', '\u{1F600}', 'x\u0001']] as const) {
      expect(decodeRowKey(rowKey(table, pk, sk))).to.deep.equal({ table, pk, sk });
    }
  });

  it('writes plain ASCII keys byte for byte and escapes only where needed', () => {
    expect(rowKey('mam', 'alice@example.org', '0042')).to.deep.equal(Buffer.from('mam\u0000alice@example.org\u00000042', 'latin1'));
    // One non-ASCII part takes the escaping path for the whole key; the bytes are its UTF-8.
    expect(rowKey('mam', 'zoë@example.org', 'a')).to.deep.equal(Buffer.concat([Buffer.from('mam\u0000'), Buffer.from('zoë@example.org'), Buffer.from('\u0000a')]));
    expect(rowKey('t', 'a\u0001', 'b')).to.deep.equal(Buffer.from([0x74, 0, 0x61, 0x01, 0x02, 0, 0x62]));
    expect(decodeRowKey(rowKey('mam', 'zoë@example.org', 'a'))).to.deep.equal({ table: 'mam', pk: 'zoë@example.org', sk: 'a' });
  });

  it('runs LevelDB compaction in a thread of its own at a lower priority than the event loop', async function () {
    const store = new LevelStore(freshDir());
    try {
      await store.ensureTables(CONTRACT_TABLES);
      const tid = store.compactionThreadId;
      if (process.platform !== 'linux') return expect(tid, 'only Linux lets one thread be reniced').to.equal(null);
      expect(tid, 'a niced compaction thread').to.be.a('number');
      expect(tid).to.not.equal(process.pid);
      // /proc/<pid>/task/<tid>/stat: field 19 is the nice value (after the parenthesised name).
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      expect(Number(fields[16])).to.equal(COMPACTION_NICE);
      expect(getPriority(0), 'the event loop keeps its priority').to.not.equal(COMPACTION_NICE);
    } finally {
      await store.close();
    }
  });

  it('keeps rows across a reopen and purges expired rows from disk', async function () {
    this.timeout(10_000);
    const dir = freshDir();
    const first = new LevelStore(dir);
    await first.ensureTables(CONTRACT_TABLES);
    await first.put('main', 'p', 'kept', 'v');
    await first.put('expiring', 'p', 'short', 'v', { ttlSeconds: 1 });
    await first.put('expiring', 'p', 'long', 'v', { ttlSeconds: 600 });
    await first.close();
    const second = new LevelStore(dir);
    await second.ensureTables(CONTRACT_TABLES);
    expect(await second.get('main', 'p', 'kept')).to.equal('v');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await second.purgeExpired()).to.equal(1);
    expect(await second.purgeExpired()).to.equal(0);
    expect(await second.get('expiring', 'p', 'long')).to.equal('v');
    await second.close();
  });

  describe('writes issued without waiting for each other', () => {
    let store: LevelStore;
    beforeEach(async () => {
      store = new LevelStore(freshDir());
      await store.ensureTables(CONTRACT_TABLES);
    });
    afterEach(() => store.close());

    const batch = (value: string, rows = 50) =>
      store.batchPut(Array.from({ length: rows }, (_, i) => ({ table: 'main', pk: 'p', sk: i === 0 ? 'k' : `other-${value}-${i}`, value })));

    it('land in the order issued, batches and single-row writes mixed', async () => {
      for (let round = 0; round < 20; round++) {
        const writes = [batch('b1'), store.put('main', 'p', 'k', 'p1'), batch('b2'), batch('b3'), store.put('main', 'p', 'k', 'p2'), store.delete('main', 'p', 'k'), batch('b4')];
        await Promise.all(writes);
        expect(await store.get('main', 'p', 'k'), `round ${round}`).to.equal('b4');
        await Promise.all([batch('b5'), batch('b6'), store.put('main', 'p', 'k', 'p3')]);
        expect(await store.get('main', 'p', 'k'), `round ${round}`).to.equal('p3');
      }
    });

    it('never split a conditional write: each sees the batches issued before it, and batches after it wait', async () => {
      for (let round = 0; round < 20; round++) {
        await store.put('main', 'p', 'k', 'v0');
        // The batch goes first: the compare-and-set must see its value and fail.
        const [, lost] = await Promise.all([batch('v1'), store.put('main', 'p', 'k', 'v2', { ifValue: 'v0' })]);
        expect(lost, `round ${round}`).to.equal(false);
        expect(await store.get('main', 'p', 'k')).to.equal('v1');
        // The compare-and-set goes first and wins; the batch issued after it lands after it.
        const [won] = await Promise.all([store.put('main', 'p', 'k', 'v3', { ifValue: 'v1' }), batch('v4')]);
        expect(won, `round ${round}`).to.equal(true);
        expect(await store.get('main', 'p', 'k')).to.equal('v4');
      }
    });
  });

  it('refuses a directory another store holds open', async () => {
    const dir = freshDir();
    const first = new LevelStore(dir);
    await first.ensureTables(CONTRACT_TABLES);
    const second = new LevelStore(dir);
    let error: unknown;
    await second.ensureTables(CONTRACT_TABLES).catch((e: unknown) => (error = e));
    expect((error as Error | undefined)?.name).to.equal('StoreUnavailableError');
    await first.close();
  });
});
