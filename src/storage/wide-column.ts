/**
 * The one storage interface of sori: a wide-column store.
 *
 * Every durable thing (accounts, rosters, archives, offline queues, push
 * registrations) is a row addressed by (table, partition key, sort key). Rows
 * of one partition are kept ordered by sort key, compared as UTF-8 byte
 * strings, so that a range read over a partition is one sequential read on
 * every backend: a LevelDB key range, a DynamoDB Query, a Cassandra slice.
 *
 * Values are opaque strings (modules choose JSON or XML). Backends never look
 * inside them.
 */

export interface TableSpec {
  /** Table name: lowercase letters, digits and underscores. */
  name: string;
  /** Rows may carry an expiry; backends that support TTL drop them by themselves. */
  ttl?: boolean;
  /**
   * Partitions are small and read far more often than written (an account's
   * credentials, a roster): a backend that sees every write may keep them in
   * memory. Only the embedded LevelDB store does.
   */
  readMostly?: boolean;
  /** Human-readable purpose, used in `docs/storage.md` and `ctl storage init`. */
  description?: string;
}

export interface Row {
  pk: string;
  sk: string;
  value: string;
  /** Absolute expiry, seconds since the epoch; absent means forever. */
  expiresAt?: number;
}

export interface PutOptions {
  /** Write only when no row has this key yet; `put` then returns false if one existed. */
  ifNotExists?: boolean;
  /** Write only when the current value equals this string (compare-and-set). */
  ifValue?: string;
  /** Expire the row this many seconds from now (tables declared with `ttl`). */
  ttlSeconds?: number;
}

export interface RangeOptions {
  /** Lower bound, inclusive unless `startExclusive`. */
  start?: string;
  startExclusive?: boolean;
  /** Upper bound, inclusive unless `endExclusive`. */
  end?: string;
  endExclusive?: boolean;
  /** Maximum rows returned. */
  limit?: number;
  /** Newest (highest sort key) first. */
  reverse?: boolean;
}

export interface BatchItem {
  table: string;
  pk: string;
  sk: string;
  value: string;
  ttlSeconds?: number;
}

export interface StoreCapabilities {
  /** Rows with ttlSeconds are removed by the backend itself. */
  ttl: boolean;
  /** ifValue compare-and-set is atomic. */
  compareAndSet: boolean;
  /** Maximum rows per batchPut call the backend takes at once (callers may pass more; the backend splits). */
  maxBatch: number;
  /**
   * batchPut calls worth having in flight at once; unset means no limit. An
   * embedded store writes one batch at a time anyway, so more calls only add
   * hand-offs to its thread: CoalescingStore queues rows behind the one in flight.
   */
  batchesInFlight?: number;
}

export interface WideColumnStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  /** Creates tables (or their equivalent) that do not exist yet. Idempotent. */
  ensureTables(specs: readonly TableSpec[]): Promise<void>;

  get(table: string, pk: string, sk: string): Promise<string | undefined>;
  /** Returns false when a condition in options was not met (nothing was written). */
  put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean>;
  /** Unconditional writes, grouped for throughput. Not atomic across items. */
  batchPut(items: readonly BatchItem[]): Promise<void>;
  delete(table: string, pk: string, sk: string): Promise<void>;
  /** Deletes every row of one partition. */
  deletePartition(table: string, pk: string): Promise<void>;
  /** Rows of one partition in sort-key order, within the bounds. */
  range(table: string, pk: string, options?: RangeOptions): Promise<Row[]>;
  /** Every row of a table, partition by partition (for admin tools and data copy, never on the hot path). */
  scan(table: string): AsyncIterable<Row>;

  close(): Promise<void>;
}

/** Raised by backends when the store cannot be reached; callers map it to `wait` errors. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Raised by backends for a row larger than they can store (a DynamoDB item
 * is at most 400 KB): retrying cannot help, so callers answer with a
 * `modify` error rather than `wait`. Nothing of the call was written.
 */
export class RowTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowTooLargeError';
  }
}

/**
 * The largest sort key used as an open upper bound in prefix scans. It is the
 * highest code point, not U+FFFF: sort keys compare as UTF-8 bytes, where
 * astral characters (F0–F4 lead bytes) sort above U+FFFF (EF BF BF).
 */
export const SK_MAX = '\u{10FFFF}';

/** Bounds that select every sort key starting with `prefix`. */
export function prefixRange(prefix: string): Pick<RangeOptions, 'start' | 'end'> {
  return { start: prefix, end: prefix + SK_MAX };
}

const TABLE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

export function assertTableName(name: string): void {
  if (!TABLE_NAME.test(name)) throw new Error(`invalid table name '${name}': use lowercase letters, digits and underscores`);
}

/**
 * A handle on one table, what modules get from `ctx.storage.table(name)`.
 */
export class Table {
  constructor(readonly store: WideColumnStore, readonly name: string) {}

  get(pk: string, sk: string): Promise<string | undefined> {
    return this.store.get(this.name, pk, sk);
  }

  async getJson<T>(pk: string, sk: string): Promise<T | undefined> {
    const v = await this.store.get(this.name, pk, sk);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  put(pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    return this.store.put(this.name, pk, sk, value, options);
  }

  putJson(pk: string, sk: string, value: unknown, options?: PutOptions): Promise<boolean> {
    return this.store.put(this.name, pk, sk, JSON.stringify(value), options);
  }

  /**
   * An unconditional write that may share one backend batch with other rows
   * (CoalescingStore): for writes that need no condition and may wait a few
   * milliseconds, such as one on every logout. Settles once written.
   */
  putBatched(pk: string, sk: string, value: string): Promise<void> {
    return this.store.batchPut([{ table: this.name, pk, sk, value }]);
  }

  delete(pk: string, sk: string): Promise<void> {
    return this.store.delete(this.name, pk, sk);
  }

  deletePartition(pk: string): Promise<void> {
    return this.store.deletePartition(this.name, pk);
  }

  range(pk: string, options?: RangeOptions): Promise<Row[]> {
    return this.store.range(this.name, pk, options);
  }

  scan(): AsyncIterable<Row> {
    return this.store.scan(this.name);
  }
}
