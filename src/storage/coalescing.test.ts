import { expect } from 'chai';
import { MemoryStore } from './memory/index.js';
import { BURST_BATCHES, CoalescingStore, type BatchReport } from './coalescing.js';
import { runStoreContract } from './contract.js';
import { RowTooLargeError, StoreUnavailableError } from './wide-column.js';

/** A memory store with table `t` that counts the batchPut calls reaching it. */
async function countingStore(): Promise<{ inner: MemoryStore; calls: () => number }> {
  const inner = new MemoryStore();
  await inner.ensureTables([{ name: 't' }]);
  let count = 0;
  const batchPut = inner.batchPut.bind(inner);
  inner.batchPut = (items) => {
    count++;
    return batchPut(items);
  };
  return { inner, calls: () => count };
}

describe('CoalescingStore', () => {
  it('turns batchPut calls of one tick into one backend batch, resolving each caller', async () => {
    const { inner, calls } = await countingStore();
    const store = new CoalescingStore(inner);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.batchPut([{ table: 't', pk: 'p', sk: String(i).padStart(3, '0'), value: `v${i}` }])));
    expect(calls()).to.equal(1);
    expect((await store.range('t', 'p')).length).to.equal(50);
  });

  it('reports each backend batch once, with its rows, the write time and the longest wait, failures included', async () => {
    const { inner } = await countingStore();
    const store = new CoalescingStore(inner, { maxDelayMs: 30 });
    const reports: BatchReport[] = [];
    store.observeBatches((r) => reports.push(r));
    await Promise.all(Array.from({ length: 3 }, (_, i) => store.batchPut([{ table: 't', pk: 'p', sk: `a${i}`, value: 'v' }, { table: 't', pk: 'p', sk: `b${i}`, value: 'v' }])));
    expect(reports).to.have.length(1);
    expect(reports[0]).to.include({ rows: 6, ok: true });
    // The rows waited out the delay before the write began.
    expect(reports[0]!.waitedSeconds).to.be.at.least(0.025).and.at.least(reports[0]!.writeSeconds);
    inner.batchPut = () => Promise.reject(new Error('disk full'));
    let refused: unknown;
    await store.batchPut([{ table: 't', pk: 'p', sk: 'c', value: 'v' }]).catch((e: unknown) => (refused = e));
    expect(refused).to.be.instanceOf(Error);
    expect(reports).to.have.length(2);
    expect(reports[1]).to.include({ rows: 1, ok: false });
  });

  it('with a delay, groups calls from different event-loop turns, and flushes at once when maxRows are queued', async () => {
    const { inner, calls } = await countingStore();
    const store = new CoalescingStore(inner, { maxDelayMs: 20, maxRows: 10 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      writes.push(store.batchPut([{ table: 't', pk: 'p', sk: `a${i}`, value: 'v' }]));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writes);
    expect(calls()).to.equal(1);
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.batchPut([{ table: 't', pk: 'q', sk: `b${i}`, value: 'v' }])));
    expect(calls()).to.equal(2);
    expect((await store.range('t', 'q')).length).to.equal(10);
  });

  it('keeps no more batches in flight than the backend declares: rows arriving meanwhile form the next batch', async () => {
    const inner = new MemoryStore();
    await inner.ensureTables([{ name: 't' }]);
    const sizes: number[] = [];
    const batchPut = inner.batchPut.bind(inner);
    let release!: () => void;
    const firstWrite = new Promise<void>((r) => (release = r));
    inner.batchPut = async (items) => {
      sizes.push(items.length);
      if (sizes.length === 1) await firstWrite;
      return batchPut(items);
    };
    Object.assign(inner, { capabilities: { ...inner.capabilities, batchesInFlight: 1 } });
    const store = new CoalescingStore(inner);
    const first = store.batchPut([{ table: 't', pk: 'p', sk: 'a', value: 'v' }]);
    await new Promise((r) => setImmediate(r));
    const later: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      later.push(store.batchPut([{ table: 't', pk: 'p', sk: `b${i}`, value: 'v' }]));
      await new Promise((r) => setImmediate(r));
    }
    expect(sizes, 'nothing more is written while the first batch is in flight').to.deep.equal([1]);
    release();
    await Promise.all([first, ...later]);
    expect(sizes).to.deep.equal([1, 5]);
    expect((await store.range('t', 'p')).length).to.equal(6);
    // close() waits for queued rows behind a write in flight.
    const slow = store.batchPut([{ table: 't', pk: 'q', sk: 'x', value: 'v' }]);
    await store.close();
    await slow;
    expect(sizes).to.deep.equal([1, 5, 1]);
  });

  it('with an interval, writes at once while the allowance lasts, then makes writes share the next slot', async () => {
    const inner = new MemoryStore();
    await inner.ensureTables([{ name: 't' }]);
    const sizes: number[] = [];
    const batchPut = inner.batchPut.bind(inner);
    inner.batchPut = async (items) => {
      sizes.push(items.length);
      return batchPut(items);
    };
    const store = new CoalescingStore(inner, { minIntervalMs: 500 });
    const lone = Array.from({ length: BURST_BATCHES }, () => 1);
    for (let i = 0; i < BURST_BATCHES; i++) {
      const write = store.batchPut([{ table: 't', pk: 'p', sk: `a${i}`, value: 'v' }]);
      await new Promise((r) => setImmediate(r));
      expect(sizes, 'a store with allowance left writes at once').to.deep.equal(lone.slice(0, i + 1));
      await write;
    }
    const later: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      later.push(store.batchPut([{ table: 't', pk: 'p', sk: `b${i}`, value: 'v' }]));
      await new Promise((r) => setImmediate(r));
    }
    expect(sizes, 'with the allowance spent, rows wait for the next slot').to.deep.equal(lone);
    await Promise.all(later);
    expect(sizes).to.deep.equal([...lone, 3]);
    // close() does not wait for a slot, and loses nothing queued.
    const last = store.batchPut([{ table: 't', pk: 'p', sk: 'c', value: 'v' }]);
    await store.close();
    await last;
    expect(sizes).to.deep.equal([...lone, 3, 1]);
    expect((await inner.range('t', 'p')).length).to.equal(BURST_BATCHES + 4);
  });

  it('rejects every caller of a failed flush, and later flushes work again', async () => {
    const inner = new MemoryStore();
    await inner.ensureTables([{ name: 't' }]);
    const store = new CoalescingStore(inner);
    inner.failing = new Error('down');
    const results = await Promise.allSettled([store.batchPut([{ table: 't', pk: 'a', sk: '1', value: 'x' }]), store.batchPut([{ table: 't', pk: 'b', sk: '1', value: 'y' }])]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    inner.failing = null;
    await store.batchPut([{ table: 't', pk: 'a', sk: '1', value: 'x' }]);
    expect(await store.get('t', 'a', '1')).to.equal('x');
  });

  it("a row the backend refuses fails only its own caller, not the other callers' rows batched with it", async () => {
    const { inner, calls } = await countingStore();
    const batchPut = inner.batchPut.bind(inner);
    inner.batchPut = (items) =>
      items.some((it) => it.value === 'too large') ? Promise.reject(new RowTooLargeError('over the item limit')) : batchPut(items);
    const store = new CoalescingStore(inner);
    const results = await Promise.allSettled([
      store.batchPut([{ table: 't', pk: 'alice', sk: '1', value: 'hello' }]),
      store.batchPut([{ table: 't', pk: 'bob', sk: '1', value: 'too large' }]),
      store.batchPut([{ table: 't', pk: 'carol', sk: '1', value: 'hi' }]),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).to.be.instanceOf(RowTooLargeError);
    expect(await store.get('t', 'alice', '1')).to.equal('hello');
    expect(await store.get('t', 'carol', '1')).to.equal('hi');
    // An outage is not retried caller by caller: that would only multiply the failing requests.
    const before = calls();
    inner.failing = new StoreUnavailableError('down');
    const down = await Promise.allSettled([store.batchPut([{ table: 't', pk: 'a', sk: '2', value: 'x' }]), store.batchPut([{ table: 't', pk: 'b', sk: '2', value: 'y' }])]);
    expect(down.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(calls() - before).to.equal(1);
  });
});

for (const [name, options] of [['coalescing(memory)', {}], ['coalescing(memory, 1 ms interval)', { minIntervalMs: 1 }]] as const) {
  runStoreContract(name, {
    open: async () => new CoalescingStore(new MemoryStore(), options),
    unreachable: async () => {
      const inner = new MemoryStore();
      inner.failing = new StoreUnavailableError('simulated outage');
      return new CoalescingStore(inner, options);
    },
  });
}
