import { StoreUnavailableError, type BatchItem, type PutOptions, type RangeOptions, type Row, type StoreCapabilities, type TableSpec, type WideColumnStore } from './wide-column.js';

/** Batches that may start back to back before `minIntervalMs` spaces them out. */
export const BURST_BATCHES = 4;

/** One backend batch as it ended, for metrics. */
export interface BatchReport {
  rows: number;
  /** The backend's write alone. */
  writeSeconds: number;
  /** From the batch's oldest rows being queued to the write's end: the longest a caller waited. */
  waitedSeconds: number;
  ok: boolean;
}

interface Pending {
  items: readonly BatchItem[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Wraps a store so that `batchPut` calls made within a short window become
 * one backend batch. On the chat hot path every message writes a few archive
 * rows; a LevelDB batch call costs ~30 µs plus ~4 µs per row, so at thousands
 * of messages per second one batch per message spends most of a core on call
 * overhead. Waiting up to `maxDelayMs` (or until `maxRows` are queued) groups
 * messages that arrive in different event-loop turns. Each caller's promise
 * still resolves only once its own rows are durable, so acknowledgement
 * semantics are kept; the cost is at most `maxDelayMs` of added latency.
 * A backend that declares `batchesInFlight` gets no more calls at once than
 * that: rows arriving meanwhile wait for the write in flight and form the next
 * batch (group commit), so batches grow with load instead of with the delay.
 *
 * `minIntervalMs` caps how often batches start, as a token bucket: one batch
 * per interval, with a burst of BURST_BATCHES. A lightly loaded server always
 * has an allowance left and writes at once (a message's two archive writes,
 * the sender's and the recipient's, follow each other within a millisecond
 * and must not wait for each other's slot); a busy one runs out, and rows then
 * wait for the next slot and share it. Each batch is a hand-off to the
 * backend's thread (LevelDB) or a request (DynamoDB, Cassandra): at 7,000
 * msg/s on one core, 1 ms cut LevelDB's batches from ~2,700 to under 1,000 a
 * second and the server's CPU by about a fifth (docs/performance-log.md).
 */
export class CoalescingStore implements WideColumnStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  private queue: Pending[] = [];
  private scheduled = false;
  /** Flushes done and rows written, for benchmarks. */
  readonly stats = { flushes: 0, rows: 0 };

  private queuedRows = 0;
  /** performance.now() when the oldest queued rows arrived. */
  private queuedSince = 0;
  private observer: ((report: BatchReport) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly maxInFlight: number;
  private inFlight = 0;
  /** Settles when no write is in flight and none is queued (close() waits for it). */
  private drained: (() => void) | null = null;

  /** Batches that may start at once (token bucket, see minIntervalMs). */
  private allowance = BURST_BATCHES;
  /** performance.now() when `allowance` was last brought up to date. */
  private refilledAt = 0;

  private readonly maxDelayMs: number;
  private readonly maxRows: number;
  private readonly minIntervalMs: number;

  constructor(
    private readonly inner: WideColumnStore,
    options: { maxDelayMs?: number; maxRows?: number; minIntervalMs?: number } = {},
  ) {
    this.maxDelayMs = options.maxDelayMs ?? 0;
    this.maxRows = options.maxRows ?? 512;
    this.minIntervalMs = options.minIntervalMs ?? 0;
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    this.maxInFlight = inner.capabilities.batchesInFlight ?? Infinity;
  }

  batchPut(items: readonly BatchItem[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) this.queuedSince = performance.now();
      this.queue.push({ items, resolve, reject });
      this.queuedRows += items.length;
      if (this.queuedRows >= this.maxRows) {
        void this.flush();
      } else if (!this.scheduled) {
        this.schedule(this.maxDelayMs);
      }
    });
  }

  /** Adds the batches the time since the last refill allows, up to the burst. */
  private refill(): void {
    const now = performance.now();
    this.allowance = Math.min(BURST_BATCHES, this.allowance + (now - this.refilledAt) / this.minIntervalMs);
    this.refilledAt = now;
  }

  /** Milliseconds until a batch may start (0: now). */
  private msUntilAllowed(): number {
    if (this.minIntervalMs === 0) return 0;
    this.refill();
    return this.allowance >= 1 ? 0 : (1 - this.allowance) * this.minIntervalMs;
  }

  /** Flushes after `delayMs`, and not before the allowance has a batch. */
  private schedule(delayMs: number): void {
    this.scheduled = true;
    const wait = Math.max(delayMs, this.msUntilAllowed());
    if (wait > 0) this.timer = setTimeout(() => void this.flush(), wait);
    else setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // With a write in flight, rows wait for it and go in the next batch: under load
    // batches grow by themselves, and a lone message is still written at once.
    if (this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    if (this.minIntervalMs > 0) {
      // Batches forced early (maxRows, close) may take the allowance below zero: the rate holds.
      this.refill();
      this.allowance -= 1;
    }
    const batch = this.queue;
    const since = this.queuedSince;
    this.queue = [];
    this.queuedRows = 0;
    let rows: readonly BatchItem[];
    if (batch.length === 1) rows = batch[0]!.items;
    else {
      // A plain loop: flatMap's generic flattening showed in profiles of the chat path.
      const all: BatchItem[] = [];
      for (const p of batch) for (const item of p.items) all.push(item);
      rows = all;
    }
    this.inFlight++;
    const start = performance.now();
    let ok = false;
    try {
      await this.inner.batchPut(rows);
      ok = true;
      this.stats.flushes++;
      this.stats.rows += rows.length;
      for (const p of batch) p.resolve();
    } catch (e) {
      if (batch.length > 1 && !(e instanceof StoreUnavailableError)) await this.writeEachAlone(batch);
      else for (const p of batch) p.reject(e);
    } finally {
      this.inFlight--;
    }
    if (this.observer !== null) {
      const end = performance.now();
      this.observer({ rows: rows.length, writeSeconds: (end - start) / 1000, waitedSeconds: (end - since) / 1000, ok });
    }
    // Rows that queued behind this write go in the next batch, at the next interval.
    if (this.queue.length > 0) {
      if (this.msUntilAllowed() === 0 || this.drained !== null || this.queuedRows >= this.maxRows) void this.flush();
      else if (!this.scheduled) this.schedule(0);
    } else if (this.inFlight === 0 && this.drained !== null) this.drained();
  }

  /**
   * After a shared batch failed for a reason other than the store being
   * down (a row the backend refuses, such as one over DynamoDB's item size),
   * writes each caller's rows on their own: only the caller whose rows are
   * refused gets the error, and other users' messages still go through.
   */
  private async writeEachAlone(batch: readonly Pending[]): Promise<void> {
    await Promise.all(batch.map((p) => this.inner.batchPut(p.items).then(p.resolve, p.reject)));
  }

  /** Reports every backend batch once it ends (one call per batch, not per caller). */
  observeBatches(observer: (report: BatchReport) => void): void {
    this.observer = observer;
  }

  ensureTables(specs: readonly TableSpec[]): Promise<void> {
    return this.inner.ensureTables(specs);
  }
  get(table: string, pk: string, sk: string): Promise<string | undefined> {
    return this.inner.get(table, pk, sk);
  }
  put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    return this.inner.put(table, pk, sk, value, options);
  }
  delete(table: string, pk: string, sk: string): Promise<void> {
    return this.inner.delete(table, pk, sk);
  }
  deletePartition(table: string, pk: string): Promise<void> {
    return this.inner.deletePartition(table, pk);
  }
  range(table: string, pk: string, options?: RangeOptions): Promise<Row[]> {
    return this.inner.range(table, pk, options);
  }
  scan(table: string): AsyncIterable<Row> {
    return this.inner.scan(table);
  }
  async close(): Promise<void> {
    if (this.queue.length > 0 || this.inFlight > 0) {
      const drained = new Promise<void>((resolve) => (this.drained = resolve));
      void this.flush();
      await drained;
    }
    await this.inner.close();
  }
}
