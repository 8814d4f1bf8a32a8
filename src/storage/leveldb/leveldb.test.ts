import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTRACT_TABLES, runStoreContract } from '../contract.js';
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

describe('LevelStore specifics', () => {
  it('round-trips keys holding separator and escape bytes', () => {
    for (const [table, pk, sk] of [['t', 'a\u0000b', '\u0001\u0000'], ['t', '', ''], ['t', '\u{1F600}', 'x\u0001']] as const) {
      expect(decodeRowKey(rowKey(table, pk, sk))).to.deep.equal({ table, pk, sk });
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
