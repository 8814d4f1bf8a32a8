/**
 * The one contract every WideColumnStore backend passes. Each backend's test
 * file calls `runStoreContract` with a factory; the same cases run on memory,
 * LevelDB, DynamoDB Local and Cassandra.
 *
 * Backends may share a server between test files, so every case writes under
 * its own random partition keys, and the factory gives each call fresh tables
 * (a new LevelDB dir, table prefix or keyspace).
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyStore } from './copy.js';
import { MemoryStore } from './memory/index.js';
import { prefixRange, StoreUnavailableError, type Row, type TableSpec, type WideColumnStore } from './wide-column.js';

export interface StoreContractOptions {
  /** A store on fresh, empty tables. */
  open(): Promise<WideColumnStore>;
  /** A store whose backend cannot be reached (closed, or pointing at a dead port). */
  unreachable(): Promise<WideColumnStore>;
  /** Timeout for `open` (starting a real service can take a while). */
  startTimeoutMs?: number;
}

export const CONTRACT_TABLES: readonly TableSpec[] = [
  { name: 'main', readMostly: true },
  { name: 'other' },
  { name: 'expiring', ttl: true, readMostly: true },
  { name: 'scanned' },
  { name: 'copied', ttl: true },
];

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const sks = (rows: Row[]): string[] => rows.map((r) => r.sk);
/** Expiry is re-derived from a TTL on each copy, so it may move by a second. */
const withoutExpiry = ({ pk, sk, value }: Row): Row => ({ pk, sk, value });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A partition key no other case (or earlier run against the same server) uses. */
const freshPk = (label: string): string => `${label}/${randomUUID()}`;

export function runStoreContract(name: string, options: StoreContractOptions): void {
  describe(`WideColumnStore contract: ${name}`, function () {
    let store: WideColumnStore;

    before(async function () {
      this.timeout(options.startTimeoutMs ?? 20_000);
      store = await options.open();
      await store.ensureTables(CONTRACT_TABLES);
    });
    after(async () => {
      await store?.close();
    });

    it('ensureTables is idempotent', async () => {
      await store.ensureTables(CONTRACT_TABLES);
    });

    it('rejects a table that was never declared', async () => {
      let failed = false;
      await store.get('never_declared', 'p', 's').catch(() => (failed = true));
      expect(failed).to.equal(true);
    });

    it('gets what was put, overwrites, and misses absent rows', async () => {
      const pk = freshPk('basic');
      expect(await store.get('main', pk, 'a')).to.equal(undefined);
      expect(await store.put('main', pk, 'a', 'one')).to.equal(true);
      expect(await store.get('main', pk, 'a')).to.equal('one');
      expect(await store.put('main', pk, 'a', 'two')).to.equal(true);
      expect(await store.get('main', pk, 'a')).to.equal('two');
      expect(await store.get('main', pk, 'b')).to.equal(undefined);
    });

    it('keeps empty values and an empty sort key', async () => {
      const pk = freshPk('empty');
      await store.put('main', pk, '', 'row with empty sk');
      await store.put('main', pk, 'x', '');
      expect(await store.get('main', pk, '')).to.equal('row with empty sk');
      expect(await store.get('main', pk, 'x')).to.equal('');
      expect(sks(await store.range('main', pk))).to.deep.equal(['', 'x']);
    });

    it('ifNotExists writes only the first time, and again after a delete', async () => {
      const pk = freshPk('ine');
      expect(await store.put('main', pk, 'k', 'first', { ifNotExists: true })).to.equal(true);
      expect(await store.put('main', pk, 'k', 'second', { ifNotExists: true })).to.equal(false);
      expect(await store.get('main', pk, 'k')).to.equal('first');
      await store.delete('main', pk, 'k');
      expect(await store.put('main', pk, 'k', 'third', { ifNotExists: true })).to.equal(true);
      expect(await store.get('main', pk, 'k')).to.equal('third');
    });

    it('ifValue is compare-and-set', async () => {
      const pk = freshPk('cas');
      expect(await store.put('main', pk, 'k', 'v1', { ifValue: 'v0' })).to.equal(false, 'CAS on a missing row');
      expect(await store.get('main', pk, 'k')).to.equal(undefined);
      await store.put('main', pk, 'k', 'v1');
      expect(await store.put('main', pk, 'k', 'v2', { ifValue: 'wrong' })).to.equal(false);
      expect(await store.get('main', pk, 'k')).to.equal('v1');
      expect(await store.put('main', pk, 'k', 'v2', { ifValue: 'v1' })).to.equal(true);
      expect(await store.get('main', pk, 'k')).to.equal('v2');
    });

    it('concurrent compare-and-set from the same value: exactly one wins', async function () {
      this.timeout(30_000);
      const pk = freshPk('race');
      await store.put('main', pk, 'counter', '0');
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.put('main', pk, 'counter', `winner-${i}`, { ifValue: '0' })),
      );
      expect(results.filter(Boolean)).to.have.length(1);
      const winner = results.indexOf(true);
      expect(await store.get('main', pk, 'counter')).to.equal(`winner-${winner}`);
    });

    it('concurrent ifNotExists on one key: exactly one wins', async function () {
      this.timeout(30_000);
      const pk = freshPk('claim');
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.put('main', pk, 'name', `claim-${i}`, { ifNotExists: true })),
      );
      expect(results.filter(Boolean)).to.have.length(1);
      expect(await store.get('main', pk, 'name')).to.equal(`claim-${results.indexOf(true)}`);
    });

    it('delete removes one row and ignores missing ones', async () => {
      const pk = freshPk('del');
      await store.put('main', pk, 'a', '1');
      await store.put('main', pk, 'b', '2');
      await store.delete('main', pk, 'a');
      await store.delete('main', pk, 'never-there');
      expect(await store.get('main', pk, 'a')).to.equal(undefined);
      expect(sks(await store.range('main', pk))).to.deep.equal(['b']);
    });

    it('deletePartition removes every row of one partition only', async () => {
      const pk = freshPk('dp');
      const neighbour = freshPk('dp');
      await store.batchPut(['a', 'b', 'c'].map((sk) => ({ table: 'main', pk, sk, value: sk })));
      await store.put('main', neighbour, 'a', 'stays');
      await store.put('other', pk, 'a', 'other table stays');
      await store.deletePartition('main', pk);
      expect(await store.range('main', pk)).to.deep.equal([]);
      expect(await store.get('main', neighbour, 'a')).to.equal('stays');
      expect(await store.get('other', pk, 'a')).to.equal('other table stays');
      await store.deletePartition('main', freshPk('never-written'));
    });

    describe('range', () => {
      const pk = freshPk('range');
      const letters = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
      before(async () => {
        await store.batchPut(letters.map((sk) => ({ table: 'main', pk, sk, value: `v-${sk}` })));
      });

      it('returns the whole partition in order, with values', async () => {
        const rows = await store.range('main', pk);
        expect(sks(rows)).to.deep.equal(letters);
        expect(rows[0]).to.deep.equal({ pk, sk: 'a', value: 'v-a' });
      });

      it('honours inclusive and exclusive bounds', async () => {
        expect(sks(await store.range('main', pk, { start: 'c', end: 'f' }))).to.deep.equal(['c', 'd', 'e', 'f']);
        expect(sks(await store.range('main', pk, { start: 'c', startExclusive: true, end: 'f' }))).to.deep.equal(['d', 'e', 'f']);
        expect(sks(await store.range('main', pk, { start: 'c', end: 'f', endExclusive: true }))).to.deep.equal(['c', 'd', 'e']);
        expect(sks(await store.range('main', pk, { start: 'c', startExclusive: true, end: 'f', endExclusive: true }))).to.deep.equal(['d', 'e']);
        expect(sks(await store.range('main', pk, { start: 'cc', end: 'ee' }))).to.deep.equal(['d', 'e']);
        expect(sks(await store.range('main', pk, { start: 'h' }))).to.deep.equal(['h', 'i', 'j']);
        expect(sks(await store.range('main', pk, { end: 'b', endExclusive: true }))).to.deep.equal(['a']);
        expect(sks(await store.range('main', pk, { start: 'f', end: 'c' }))).to.deep.equal([]);
        expect(sks(await store.range('main', pk, { start: 'c', startExclusive: true, end: 'c' }))).to.deep.equal([]);
      });

      it('honours limit and reverse, together with bounds', async () => {
        expect(sks(await store.range('main', pk, { limit: 3 }))).to.deep.equal(['a', 'b', 'c']);
        expect(sks(await store.range('main', pk, { reverse: true, limit: 3 }))).to.deep.equal(['j', 'i', 'h']);
        expect(sks(await store.range('main', pk, { reverse: true }))).to.deep.equal([...letters].reverse());
        const rows = await store.range('main', pk, { start: 'b', startExclusive: true, end: 'h', endExclusive: true, reverse: true, limit: 4 });
        expect(sks(rows)).to.deep.equal(['g', 'f', 'e', 'd']);
      });

      it('selects a prefix with prefixRange, astral next characters included', async () => {
        const p = freshPk('prefix');
        const keys = ['msg:', 'msg:1', 'msg:\uffff', 'msg:\u{1F600}', 'msh', 'msf'];
        await store.batchPut(keys.map((sk) => ({ table: 'main', pk: p, sk, value: sk })));
        expect(sks(await store.range('main', p, prefixRange('msg:')))).to.deep.equal(['msg:', 'msg:1', 'msg:\uffff', 'msg:\u{1F600}']);
      });
    });

    it('pages through 100 rows by 7, forwards and backwards', async function () {
      this.timeout(60_000);
      const pk = freshPk('paging');
      const all = Array.from({ length: 100 }, (_, i) => `m${String(i).padStart(4, '0')}`);
      await store.batchPut(all.map((sk) => ({ table: 'main', pk, sk, value: `body of ${sk}` })));
      const forward: string[] = [];
      for (let after: string | undefined; ; ) {
        const page = await store.range('main', pk, after === undefined ? { limit: 7 } : { start: after, startExclusive: true, limit: 7 });
        forward.push(...sks(page));
        if (page.length < 7) break;
        after = page[page.length - 1]!.sk;
      }
      expect(forward).to.deep.equal(all);
      const backward: string[] = [];
      for (let before: string | undefined; ; ) {
        const bounds = before === undefined ? {} : { end: before, endExclusive: true };
        const page = await store.range('main', pk, { ...bounds, reverse: true, limit: 7 });
        expect(page.length).to.be.at.most(7);
        backward.push(...sks(page));
        if (page.length < 7) break;
        before = page[page.length - 1]!.sk;
      }
      expect(backward).to.deep.equal([...all].reverse());
    });

    it('orders sort keys as UTF-8 bytes, astral characters above U+FFFF', async () => {
      const pk = freshPk('utf8');
      const keys = ['z', 'a', 'Z', '\u00e9', '\u00ff', '\u4e2d', '\uffef', '\uffff', '\u{1F600}', '\u{10437}', 'a\u{1F600}', 'a\uffff', 'ab', ' ', '~'];
      await store.batchPut(keys.map((sk) => ({ table: 'main', pk, sk, value: sk })));
      const expected = [...keys].sort(byUtf8);
      expect(sks(await store.range('main', pk))).to.deep.equal(expected);
      expect(sks(await store.range('main', pk, { reverse: true }))).to.deep.equal([...expected].reverse());
      expect(sks(await store.range('main', pk, { start: '\uffff', end: '\u{10437}' }))).to.deep.equal(['\uffff', '\u{10437}']);
    });

    it('isolates partitions and tables, whatever bytes keys hold', async () => {
      const base = freshPk('iso');
      // Pairs that a naive `pk + separator + sk` encoding would mix up.
      await store.put('main', base, 'b\u0000c', 'one');
      await store.put('main', `${base}\u0000b`, 'c', 'two');
      await store.put('main', `${base}\u0001`, 'x', 'three');
      await store.put('main', `${base}b`, 'x', 'four');
      await store.put('other', base, 'b\u0000c', 'other table');
      expect(await store.range('main', base)).to.deep.equal([{ pk: base, sk: 'b\u0000c', value: 'one' }]);
      expect(await store.range('main', `${base}\u0000b`)).to.deep.equal([{ pk: `${base}\u0000b`, sk: 'c', value: 'two' }]);
      expect(sks(await store.range('main', `${base}\u0001`))).to.deep.equal(['x']);
      expect(await store.get('other', base, 'b\u0000c')).to.equal('other table');
      expect(await store.get('other', `${base}\u0000b`, 'c')).to.equal(undefined);
    });

    it('stores arbitrary unicode and XML values unchanged', async () => {
      const pk = freshPk('values');
      const xml =
        `<message xmlns="jabber:client" to="juliet@example.com" id="a&amp;b'&quot;"><body>héllo 中文 \u{1F600} \r\n\t` +
        `<![CDATA[<not-xml>]]> \u0000 \u0001 \uffff \u{10FFFF}</body></message>`;
      const big = xml.repeat(400); // ~80 KB
      await store.put('main', pk, 'xml', xml);
      await store.put('main', pk, 'big', big);
      expect(await store.get('main', pk, 'xml')).to.equal(xml);
      expect(await store.get('main', pk, 'big')).to.equal(big);
      const rows = await store.range('main', pk);
      expect(rows.map((r) => r.value)).to.deep.equal([big, xml]);
    });

    it('expires rows written with ttlSeconds, and keeps the others', async function () {
      this.timeout(15_000);
      const pk = freshPk('ttl');
      const before = Math.floor(Date.now() / 1000);
      await store.put('expiring', pk, 'short', 'gone soon', { ttlSeconds: 1 });
      await store.put('expiring', pk, 'long', 'stays', { ttlSeconds: 3600 });
      await store.put('expiring', pk, 'forever', 'stays');
      await store.batchPut([{ table: 'expiring', pk, sk: 'batched', value: 'gone soon', ttlSeconds: 1 }]);
      await store.put('expiring', pk, 'swapped', 'v1');
      expect(await store.put('expiring', pk, 'swapped', 'v2', { ifValue: 'v1', ttlSeconds: 1 })).to.equal(true);
      const long = (await store.range('expiring', pk)).find((r) => r.sk === 'long');
      expect(long?.expiresAt).to.be.within(before + 3598, before + 3602);
      await sleep(2200);
      expect(await store.get('expiring', pk, 'short')).to.equal(undefined);
      expect(await store.get('expiring', pk, 'batched')).to.equal(undefined);
      expect(await store.get('expiring', pk, 'swapped')).to.equal(undefined, 'a TTL set by compare-and-set expires the row');
      expect(sks(await store.range('expiring', pk))).to.deep.equal(['forever', 'long']);
      expect(sks(await store.range('expiring', pk, { limit: 1 }))).to.deep.equal(['forever']);
      expect(await store.put('expiring', pk, 'short', 'again', { ifNotExists: true })).to.equal(true, 'an expired row does not block ifNotExists');
    });

    it('batchPut writes 60 items across tables', async () => {
      const pk = freshPk('batch');
      const items = Array.from({ length: 60 }, (_, i) => ({
        table: i % 2 === 0 ? 'main' : 'other',
        pk: `${pk}/${i % 3}`,
        sk: `item-${String(i).padStart(2, '0')}`,
        value: `value ${i} ✓`,
      }));
      await store.batchPut(items);
      await store.batchPut([]);
      for (const table of ['main', 'other']) {
        for (let p = 0; p < 3; p++) {
          const expected = items.filter((it) => it.table === table && it.pk === `${pk}/${p}`);
          const rows = await store.range(table, `${pk}/${p}`);
          expect(rows.map((r) => [r.sk, r.value])).to.deep.equal(expected.map((it) => [it.sk, it.value]));
        }
      }
    });

    it('batchPut takes large values, many to one partition', async function () {
      this.timeout(30_000);
      const pk = freshPk('bulk');
      const items = Array.from({ length: 8 }, (_, i) => ({ table: 'main', pk, sk: `m${i}`, value: `<body>${String(i).repeat(60_000)}</body>` }));
      await store.batchPut(items);
      const rows = await store.range('main', pk);
      expect(rows.map((r) => r.value)).to.deep.equal(items.map((it) => it.value));
    });

    it('scans a whole table, partition by partition', async () => {
      const pks = [freshPk('scan'), freshPk('scan'), freshPk('scan')];
      const items = pks.flatMap((pk) => ['e', 'a', 'c', 'b', 'd'].map((sk) => ({ table: 'scanned', pk, sk, value: `${pk}:${sk}` })));
      await store.batchPut(items);
      const rows: Row[] = [];
      for await (const row of store.scan('scanned')) rows.push(row);
      expect(rows).to.have.length(15);
      const order = rows.map((r) => r.pk).filter((pk, i, all) => i === 0 || all[i - 1] !== pk);
      expect([...order].sort()).to.deep.equal([...pks].sort(), 'each partition comes as one contiguous run');
      for (const pk of pks) {
        expect(rows.filter((r) => r.pk === pk).map((r) => r.sk)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      }
      expect(rows.every((r) => r.value === `${r.pk}:${r.sk}`)).to.equal(true);
    });

    it('copyStore copies to and from this backend, with counts', async function () {
      this.timeout(60_000);
      const source = new MemoryStore();
      const back = new MemoryStore();
      const tables = CONTRACT_TABLES.filter((t) => t.name === 'copied');
      await source.ensureTables(tables);
      const items = Array.from({ length: 40 }, (_, i) => ({ table: 'copied', pk: `user${i % 4}`, sk: `s${i}`, value: `<v n="${i}"/>` }));
      await source.batchPut([...items, { table: 'copied', pk: 'user0', sk: 'ttl', value: 'expiring', ttlSeconds: 600 }]);
      const dir = mkdtempSync(join(tmpdir(), 'sori-copy-'));
      try {
        const there = await copyStore(source, store, tables, { resumeFrom: join(dir, 'there.json') });
        expect(there.tables.copied).to.deep.equal({ copied: 41, source: 41, target: 41 });
        expect(there.mismatched).to.deep.equal([]);
        const home = await copyStore(store, back, tables);
        expect(home.tables.copied).to.deep.include({ source: 41, target: 41 });
        for (let p = 0; p < 4; p++) {
          const [copied, original] = [await back.range('copied', `user${p}`), await source.range('copied', `user${p}`)];
          expect(copied.map(withoutExpiry)).to.deep.equal(original.map(withoutExpiry));
        }
        const ttlRow = (await back.range('copied', 'user0')).find((r) => r.sk === 'ttl');
        expect(ttlRow?.expiresAt).to.be.within(Date.now() / 1000 + 590, Date.now() / 1000 + 610, 'TTL survives the copy');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('throws StoreUnavailableError when the backend cannot be reached', async function () {
      this.timeout(30_000);
      const dead = await options.unreachable();
      let error: unknown;
      await dead.ensureTables(CONTRACT_TABLES).catch(() => {});
      await dead.get('main', 'p', 's').catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(StoreUnavailableError);
      await dead.close().catch(() => {});
    });
  });
}
