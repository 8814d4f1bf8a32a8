import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config.js';
import { storageConfig } from '../../sori.js';
import { CONTRACT_TABLES } from '../contract.js';
import { createStore } from '../index.js';
import type { Row } from '../wide-column.js';
import { LevelStore } from './index.js';
import { PartitionCache, selectRows } from './partition-cache.js';

const rowsOf = (pk: string, ...sks: string[]): Row[] => sks.map((sk) => ({ pk, sk, value: `value of ${sk}` }));

describe('PartitionCache', () => {
  it('keeps a filled partition and gives it back until a write to it lands', () => {
    const cache = new PartitionCache(1 << 20, 10);
    const fill = cache.beginFill('roster alice')!;
    cache.endFill('roster alice', fill, rowsOf('alice', 'bob', 'carol'));
    expect(cache.get('roster alice')?.map((r) => r.sk)).to.deep.equal(['bob', 'carol']);
    cache.invalidate('roster alice');
    expect(cache.get('roster alice')).to.equal(undefined);
    expect(cache.size).to.deep.equal({ partitions: 0, bytes: 0 });
  });

  it('does not keep rows read while a write to the partition landed', () => {
    const cache = new PartitionCache(1 << 20, 10);
    const fill = cache.beginFill('roster alice')!;
    expect(cache.beginFill('roster alice'), 'a second fill of the same partition').to.equal(null);
    cache.invalidate('roster alice');
    cache.endFill('roster alice', fill, rowsOf('alice', 'bob'));
    expect(cache.get('roster alice')).to.equal(undefined);
    expect(cache.beginFill('roster alice'), 'the fill is over').to.not.equal(null);
  });

  it('drops the least recently used partitions beyond its byte budget', () => {
    const cache = new PartitionCache(3_000, 10);
    for (const owner of ['a', 'b', 'c', 'd']) {
      const fill = cache.beginFill(`roster ${owner}`)!;
      cache.endFill(`roster ${owner}`, fill, rowsOf(owner, 'x'.repeat(100)));
    }
    cache.get('roster a'); // used: b is now the oldest
    const fill = cache.beginFill('roster e')!;
    cache.endFill('roster e', fill, rowsOf('e', 'x'.repeat(100)));
    expect(cache.size.bytes).to.be.at.most(3_000);
    expect(cache.get('roster b')).to.equal(undefined);
    expect(cache.get('roster a')).to.not.equal(undefined);
    expect(cache.get('roster e')).to.not.equal(undefined);
  });

  it('selects rows as a range read would: bounds, reverse, limit, expired rows left out', () => {
    const rows: Row[] = [...rowsOf('p', 'a', 'b', 'c', 'd'), { pk: 'p', sk: 'e', value: 'old', expiresAt: 1 }];
    const now = Date.now();
    expect(selectRows(rows, {}, now).map((r) => r.sk)).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(selectRows(rows, { start: 'b', startExclusive: true, end: 'e' }, now).map((r) => r.sk)).to.deep.equal(['c', 'd']);
    expect(selectRows(rows, { reverse: true, limit: 2 }, now).map((r) => r.sk)).to.deep.equal(['d', 'c']);
    expect(selectRows(rows, { start: 'c', end: 'b' }, now)).to.deep.equal([]);
  });
});

describe('LevelStore read cache', () => {
  let dir: string;
  let store: LevelStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sori-cache-'));
    store = new LevelStore(dir);
    await store.ensureTables(CONTRACT_TABLES);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a read-mostly partition from memory once read, and only those tables', async () => {
    await store.put('main', 'alice', 'bob', 'friend');
    await store.put('other', 'alice', 'bob', 'friend');
    expect(await store.range('main', 'alice')).to.have.length(1);
    expect(await store.get('other', 'alice', 'bob')).to.equal('friend');
    expect(store.cacheSize.partitions).to.equal(1);
    expect(await store.get('main', 'alice', 'bob')).to.equal('friend');
    expect(await store.get('main', 'alice', 'nobody')).to.equal(undefined);
    await store.put('main', 'alice', 'carol', 'friend');
    expect(store.cacheSize.partitions).to.equal(0);
    expect((await store.range('main', 'alice')).map((r) => r.sk)).to.deep.equal(['bob', 'carol']);
  });

  it('never keeps rows that a write landing during the read made stale', async () => {
    for (let round = 0; round < 100; round++) {
      const pk = `race-${round}`;
      await store.put('main', pk, 'k', 'old');
      // The read misses and fills while the writes land, in whatever order the pool threads finish.
      await Promise.all([store.range('main', pk), store.put('main', pk, 'k', 'new'), store.batchPut([{ table: 'main', pk, sk: 'b', value: 'new' }])]);
      expect(await store.get('main', pk, 'k'), `round ${round}`).to.equal('new');
      expect(await store.get('main', pk, 'b'), `round ${round}`).to.equal('new');
      await Promise.all([store.get('main', pk, 'k'), store.delete('main', pk, 'k'), store.deletePartition('main', pk)]);
      expect(await store.range('main', pk), `round ${round}`).to.deep.equal([]);
    }
  });

  it('reads partitions larger than it keeps from disk, every time', async () => {
    const rows = Array.from({ length: 600 }, (_, i) => ({ table: 'main', pk: 'big', sk: `m${String(i).padStart(4, '0')}`, value: 'x' }));
    await store.batchPut(rows);
    expect(await store.range('main', 'big')).to.have.length(600);
    expect((await store.range('main', 'big', { reverse: true, limit: 1 }))[0]?.sk).to.equal('m0599');
    expect(await store.get('main', 'big', 'm0300')).to.equal('x');
    expect(store.cacheSize.partitions).to.equal(0);
  });
});

describe('storage.cacheMiB', () => {
  it('sizes the LevelDB read cache; 0 reads every partition from disk', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sori-cache-config-'));
    try {
      for (const [cacheMiB, cached] of [['0', 0], ['1', 1]] as const) {
        const config = loadConfig({ env: { SORI__server__dataDir: dataDir, SORI__storage__cacheMiB: cacheMiB } });
        const store = (await createStore(storageConfig(config))) as LevelStore;
        await store.ensureTables(CONTRACT_TABLES);
        await store.put('main', 'alice', 'bob', 'friend');
        expect(await store.range('main', 'alice')).to.have.length(1);
        expect(store.cacheSize.partitions, `cacheMiB ${cacheMiB}`).to.equal(cached);
        await store.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
