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
  let ROSTER: number;
  let OFFLINE: number;
  const slotted = (cache: PartitionCache): PartitionCache => {
    ROSTER = cache.newSlot();
    OFFLINE = cache.newSlot();
    return cache;
  };
  /** The fill of a partition's second read (the first only marks it seen). */
  const secondFill = (cache: PartitionCache, slot: number, pk: string) => {
    expect(cache.beginFill(slot, pk), 'first read').to.equal(null);
    return cache.beginFill(slot, pk)!;
  };

  it('keeps a partition from its second read on, not its first', () => {
    const cache = slotted(new PartitionCache(1 << 20, 10));
    expect(cache.beginFill(ROSTER, 'alice')).to.equal(null);
    expect(cache.beginFill(OFFLINE, 'alice'), 'the same key in another table is another partition').to.equal(null);
    const fill = cache.beginFill(ROSTER, 'alice');
    expect(fill).to.not.equal(null);
    cache.endFill(ROSTER, 'alice', fill!, rowsOf('alice', 'bob'));
    expect(cache.get(ROSTER, 'alice')).to.have.length(1);
  });

  it('keeps a filled partition and gives it back until a write to it lands', () => {
    const cache = slotted(new PartitionCache(1 << 20, 10));
    const fill = secondFill(cache, ROSTER, 'alice');
    cache.endFill(ROSTER, 'alice', fill, rowsOf('alice', 'bob', 'carol'));
    const empty = secondFill(cache, OFFLINE, 'alice');
    cache.endFill(OFFLINE, 'alice', empty, []);
    expect(cache.get(ROSTER, 'alice')?.map((r) => r.sk)).to.deep.equal(['bob', 'carol']);
    expect(cache.get(OFFLINE, 'alice')).to.deep.equal([]);
    expect(cache.get(ROSTER, 'bob')).to.equal(undefined);
    cache.invalidate(ROSTER, 'alice');
    expect(cache.get(ROSTER, 'alice')).to.equal(undefined);
    expect(cache.get(OFFLINE, 'alice'), "another table's partition of the same key").to.deep.equal([]);
    cache.invalidate(OFFLINE, 'alice');
    expect(cache.size.partitions).to.equal(0);
  });

  it('does not keep rows read while a write to the partition landed', () => {
    const cache = slotted(new PartitionCache(1 << 20, 10));
    const fill = secondFill(cache, ROSTER, 'alice');
    expect(cache.beginFill(ROSTER, 'alice'), 'a second fill of the same partition').to.equal(null);
    cache.invalidate(ROSTER, 'alice');
    cache.endFill(ROSTER, 'alice', fill, rowsOf('alice', 'bob'));
    expect(cache.get(ROSTER, 'alice')).to.equal(undefined);
    expect(cache.beginFill(ROSTER, 'alice'), 'the fill is over').to.not.equal(null);
  });

  it('drops the least recently used partitions beyond its byte budget', () => {
    const cache = slotted(new PartitionCache(1_700, 10));
    const fillWith = (owner: string): void => cache.endFill(ROSTER, owner, secondFill(cache, ROSTER, owner), rowsOf(owner, 'x'.repeat(100)));
    for (const owner of ['a', 'b', 'c', 'd']) fillWith(owner);
    expect(cache.size.partitions).to.equal(4);
    cache.get(ROSTER, 'a'); // used: b is now the oldest
    fillWith('e');
    expect(cache.size.bytes).to.be.at.most(1_700);
    expect(cache.get(ROSTER, 'b')).to.equal(undefined);
    expect(cache.get(ROSTER, 'a')).to.not.equal(undefined);
    expect(cache.get(ROSTER, 'e')).to.not.equal(undefined);
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
    expect(store.cacheSize.partitions, 'after the first read').to.equal(0);
    expect(await store.range('main', 'alice')).to.have.length(1);
    for (let i = 0; i < 2; i++) expect(await store.get('other', 'alice', 'bob')).to.equal('friend');
    expect(store.cacheSize.partitions).to.equal(1);
    expect(await store.get('main', 'alice', 'bob')).to.equal('friend');
    expect(await store.get('main', 'alice', 'nobody')).to.equal(undefined);
    await store.put('main', 'alice', 'carol', 'friend');
    expect(store.cacheSize.partitions).to.equal(0);
    expect((await store.range('main', 'alice')).map((r) => r.sk)).to.deep.equal(['bob', 'carol']);
    expect(store.cacheSize.partitions, 'read again after the write').to.equal(1);
  });

  it('never keeps rows that a write landing during the read made stale', async () => {
    for (let round = 0; round < 100; round++) {
      const pk = `race-${round}`;
      await store.put('main', pk, 'k', 'old');
      await store.get('main', pk, 'k'); // seen once: the next read fills
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
        for (let i = 0; i < 2; i++) expect(await store.range('main', 'alice')).to.have.length(1);
        expect(store.cacheSize.partitions, `cacheMiB ${cacheMiB}`).to.equal(cached);
        await store.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
