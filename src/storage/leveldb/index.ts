/**
 * The embedded default backend: one LevelDB directory (classic-level) holding
 * every table. A row is one key (see key-codec.ts) whose value is an envelope
 * carrying the optional expiry, so a partition is one contiguous key range and
 * a range read is one LevelDB iterator.
 */
import { ClassicLevel } from 'classic-level';
import {
  assertTableName,
  StoreUnavailableError,
  type BatchItem,
  type PutOptions,
  type RangeOptions,
  type Row,
  type StoreCapabilities,
  type TableSpec,
  type WideColumnStore,
} from '../wide-column.js';
import { expiresAtFor, isExpired } from '../ttl.js';
import { decodeRowKey, partitionPrefix, prefixBounds, rowKey, tableBounds, withSortKey } from './key-codec.js';
import { KeyLocks } from '../../util/key-locks.js';
import { lowerBackgroundThreadPriority } from './background-priority.js';
import { PartitionCache, selectRows } from './partition-cache.js';

export interface LevelStoreOptions {
  /** How often expired rows are deleted from disk (they are hidden from reads at once). Default 10 minutes. */
  purgeIntervalMs?: number;
  /** Heap the read-mostly tables' partitions may take (partition-cache.ts); 0 reads them from disk every time. Default 32 MiB. */
  cacheBytes?: number;
}

interface Cell {
  value: string;
  expiresAt?: number;
}

/**
 * Value envelope: `-value` for rows without expiry, `<expiresAt>:value`
 * otherwise. A leading character is cheaper to parse than JSON and leaves the
 * value bytes untouched.
 */
function encodeCell(value: string, expiresAt: number | undefined): string {
  return expiresAt === undefined ? `-${value}` : `${expiresAt}:${value}`;
}

function decodeCell(raw: string): Cell {
  if (raw.charCodeAt(0) === 0x2d /* - */) return { value: raw.slice(1) };
  const colon = raw.indexOf(':');
  return { value: raw.slice(colon + 1), expiresAt: Number(raw.slice(0, colon)) };
}

function toRow(pk: string, sk: string, cell: Cell): Row {
  return cell.expiresAt === undefined ? { pk, sk, value: cell.value } : { pk, sk, value: cell.value, expiresAt: cell.expiresAt };
}

const SCAN_PAGE = 500;
const EMPTY = Buffer.alloc(0);
const BUFFER_VALUE = { valueEncoding: 'buffer' } as const;
const LANDED: Promise<void> = Promise.resolve();
const ignore = (): void => {};
interface PutOperation { type: 'put'; key: Buffer; value: Buffer }
/**
 * LevelDB's default 4 MB memtable makes an archive under chat load flush every
 * fraction of a second, and each flush of keys spread over every user's partition
 * rewrites most of level 1. A larger memtable cuts that rewriting (compaction runs
 * on the same cores as the event loop); it costs up to twice this much memory.
 */
const WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
const CACHE_BYTES = 32 * 1024 * 1024;
/** A roster of this many contacts is still one entry; larger partitions are read from disk each time. */
const CACHE_MAX_ROWS = 512;

export class LevelStore implements WideColumnStore {
  readonly name = 'leveldb';
  readonly capabilities: StoreCapabilities = { ttl: true, compareAndSet: true, maxBatch: 1000, batchesInFlight: 1 };
  private readonly db: ClassicLevel<Buffer, string>;
  private readonly tables = new Map<string, TableSpec>();
  /** Single-row writes (and conditional ones' read-then-write) hold their key; batches do only when one is held. */
  private readonly locks = new KeyLocks();
  /**
   * The latest batch written without key locks, until it lands: every later write waits for it. Each such batch
   * waits for the one before, so this one landing means all earlier ones have. One field rather than a set of
   * them: V8 gives a long-lived Set with an add and a delete per batch a new table each time, in old space, which
   * under chat load brought the next full collection (and its pause) seconds closer.
   */
  private lastUnlockedBatch: Promise<void> | undefined;
  private readonly purgeTimer: NodeJS.Timeout;
  private closed = false;
  private readonly cache: PartitionCache;
  /** The cache's slot of each read-mostly table (none while the cache is off). */
  private readonly cacheSlots = new Map<string, number>();
  /** LevelDB's compaction thread, when it runs at a lower priority (background-priority.ts). */
  compactionThreadId: number | null = null;

  constructor(readonly path: string, options: LevelStoreOptions = {}) {
    this.db = new ClassicLevel<Buffer, string>(path, { keyEncoding: 'buffer', valueEncoding: 'utf8', writeBufferSize: WRITE_BUFFER_BYTES });
    this.purgeTimer = setInterval(() => void this.purgeExpired().catch(() => {}), options.purgeIntervalMs ?? 600_000);
    this.purgeTimer.unref();
    this.cache = new PartitionCache(options.cacheBytes ?? CACHE_BYTES, CACHE_MAX_ROWS);
  }

  /** Partitions of read-mostly tables held in memory, and their estimated heap. */
  get cacheSize(): { partitions: number; bytes: number } {
    return this.cache.size;
  }

  async ensureTables(specs: readonly TableSpec[]): Promise<void> {
    for (const s of specs) assertTableName(s.name);
    const open = (): Promise<void> => this.guard(() => this.db.open());
    // Only the process's first store runs this: compacting an empty range flushes the
    // (empty) memtable, which starts LevelDB's background thread if opening did not.
    const nowhere = Buffer.of(0xff, 0xff);
    this.compactionThreadId = await lowerBackgroundThreadPriority(async () => {
      await open();
      await this.guard(() => this.db.compactRange(nowhere, nowhere));
    });
    await open(); // resolves at once when open already
    for (const s of specs) {
      this.tables.set(s.name, s);
      if (s.readMostly === true && this.cache.enabled && !this.cacheSlots.has(s.name)) this.cacheSlots.set(s.name, this.cache.newSlot());
    }
  }

  async get(table: string, pk: string, sk: string): Promise<string | undefined> {
    this.checkTable(table);
    const slot = this.cacheSlots.get(table);
    if (slot !== undefined) {
      const rows = await this.cachedPartition(slot, table, pk);
      if (rows !== null) {
        const row = rows.find((r) => r.sk === sk);
        return row === undefined || isExpired(row.expiresAt) ? undefined : row.value;
      }
    }
    const cell = await this.read(rowKey(table, pk, sk));
    return cell?.value;
  }

  async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    this.checkTable(table);
    const key = rowKey(table, pk, sk);
    return this.exclusive([key.toString('latin1')], async () => {
      if (options?.ifNotExists || options?.ifValue !== undefined) {
        const current = await this.read(key);
        if (options.ifNotExists && current !== undefined) return false;
        if (options.ifValue !== undefined && current?.value !== options.ifValue) return false;
      }
      await this.landing(table, pk, this.guard(() => this.db.put(key, encodeCell(value, expiresAtFor(options?.ttlSeconds)))));
      return true;
    });
  }

  async batchPut(items: readonly BatchItem[]): Promise<void> {
    const now = Date.now();
    for (let i = 0; i < items.length; i += this.capabilities.maxBatch) {
      const chunk = items.slice(i, i + this.capabilities.maxBatch);
      const rows: PutOperation[] = [];
      // An archived message is the same value in two tables: encode it once and hand
      // LevelDB the bytes, so the native side copies them instead of converting a string per row.
      let lastValue: string | undefined;
      let lastExpiresAt: number | undefined;
      let lastCell = EMPTY;
      const cached: BatchItem[] = [];
      for (const it of chunk) {
        this.checkTable(it.table);
        if (this.cacheSlots.has(it.table)) cached.push(it);
        const expiresAt = expiresAtFor(it.ttlSeconds, now);
        if (it.value !== lastValue || expiresAt !== lastExpiresAt) {
          lastValue = it.value;
          lastExpiresAt = expiresAt;
          lastCell = Buffer.from(encodeCell(it.value, expiresAt));
        }
        rows.push({ type: 'put', key: rowKey(it.table, it.pk, it.sk), value: lastCell });
      }
      const write = (): Promise<void> =>
        this.guard(() => {
          // An array, not a chained batch: the same CPU per row, and a chained batch enters and leaves
          // abstract-level's long-lived set of open resources, which allocates in old space (see lastUnlockedBatch).
          const written = this.db.batch(rows, BUFFER_VALUE);
          return cached.length === 0 ? written : this.landingAll(cached, written);
        });
      if (this.locks.idle) {
        // The usual case (archive rows): no single-row write to order against, so no
        // lock per row; writes issued later wait for this batch (see batchesLanded).
        const landed = this.batchesLanded().then(write);
        const tracked = landed.catch(ignore);
        this.lastUnlockedBatch = tracked;
        void tracked.then(() => {
          if (this.lastUnlockedBatch === tracked) this.lastUnlockedBatch = undefined;
        });
        await landed;
      } else {
        await this.exclusive(rows.map((row) => row.key.toString('latin1')), write);
      }
    }
  }

  async delete(table: string, pk: string, sk: string): Promise<void> {
    this.checkTable(table);
    const key = rowKey(table, pk, sk);
    await this.exclusive([key.toString('latin1')], () => this.landing(table, pk, this.guard(() => this.db.del(key))));
  }

  async deletePartition(table: string, pk: string): Promise<void> {
    this.checkTable(table);
    await this.landing(table, pk, this.guard(() => this.db.clear(prefixBounds(partitionPrefix(table, pk)))));
  }

  async range(table: string, pk: string, options: RangeOptions = {}): Promise<Row[]> {
    this.checkTable(table);
    const slot = this.cacheSlots.get(table);
    if (slot !== undefined) {
      const rows = await this.cachedPartition(slot, table, pk);
      if (rows !== null) return selectRows(rows, options, Date.now());
    }
    return this.readRange(table, pk, options, true);
  }

  /** Rows of one partition from disk; `live` leaves expired rows out. */
  private async readRange(table: string, pk: string, options: RangeOptions, live: boolean): Promise<Row[]> {
    const prefix = partitionPrefix(table, pk);
    const whole = prefixBounds(prefix);
    const bounds: { gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer } = {};
    if (options.start === undefined) bounds.gte = whole.gte;
    else bounds[options.startExclusive ? 'gt' : 'gte'] = withSortKey(prefix, options.start);
    if (options.end === undefined) bounds.lt = whole.lt;
    else bounds[options.endExclusive ? 'lt' : 'lte'] = withSortKey(prefix, options.end);
    const limit = options.limit ?? Infinity;
    const out: Row[] = [];
    const now = Date.now();
    await this.guard(async () => {
      // No iterator limit: expired rows are skipped here, so they must not count.
      for await (const [key, raw] of this.db.iterator({ ...bounds, reverse: options.reverse ?? false })) {
        const cell = decodeCell(raw);
        if (live && isExpired(cell.expiresAt, now)) continue;
        out.push(toRow(pk, decodeRowKey(key).sk, cell));
        if (out.length >= limit) break;
      }
    });
    return out;
  }

  async *scan(table: string): AsyncIterable<Row> {
    this.checkTable(table);
    // Paged so no LevelDB iterator (and its snapshot) stays open while the caller awaits.
    let after: Buffer | undefined;
    const bounds = tableBounds(table);
    for (;;) {
      const page = await this.guard(() =>
        this.db.iterator(after === undefined ? { ...bounds, limit: SCAN_PAGE } : { gt: after, lt: bounds.lt, limit: SCAN_PAGE }).all(),
      );
      const now = Date.now();
      for (const [key, raw] of page) {
        const cell = decodeCell(raw);
        if (isExpired(cell.expiresAt, now)) continue;
        const { pk, sk } = decodeRowKey(key);
        yield toRow(pk, sk, cell);
      }
      if (page.length < SCAN_PAGE) return;
      after = page[page.length - 1]![0];
    }
  }

  /** Deletes expired rows of every TTL table; each row is re-checked under its lock so a fresh write survives. */
  async purgeExpired(): Promise<number> {
    let purged = 0;
    for (const spec of this.tables.values()) {
      if (!spec.ttl) continue;
      const expired: Buffer[] = [];
      const now = Date.now();
      await this.guard(async () => {
        for await (const [key, raw] of this.db.iterator(tableBounds(spec.name))) {
          if (isExpired(decodeCell(raw).expiresAt, now)) expired.push(key);
        }
      });
      for (const key of expired) {
        await this.exclusive([key.toString('latin1')], async () => {
          const cell = await this.read(key);
          if (cell !== undefined) return; // rewritten since (read() hides expired rows)
          const { pk } = decodeRowKey(key);
          await this.landing(spec.name, pk, this.guard(() => this.db.del(key)));
          purged++;
        });
      }
    }
    return purged;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.purgeTimer);
    await this.db.close();
  }

  /**
   * Settles when every batch written without key locks so far has landed (or
   * failed). A write that starts after such a batch must not land before it:
   * LevelDB runs each write on a pool thread, in no promised order.
   */
  private batchesLanded(): Promise<void> {
    return this.lastUnlockedBatch ?? LANDED;
  }

  /** Runs `fn` holding `keys`, once every batch written without key locks before it has landed. */
  private exclusive<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.locks.with(keys, async () => {
      await this.batchesLanded();
      return fn();
    });
  }

  /** The live cell under `key`, or undefined when absent or expired. */
  private async read(key: Buffer): Promise<Cell | undefined> {
    const raw = await this.guard(() => this.db.get(key));
    if (raw === undefined) return undefined;
    const cell = decodeCell(raw);
    return isExpired(cell.expiresAt) ? undefined : cell;
  }

  /**
   * Every row of a read-mostly partition, expired ones included, from the
   * cache or read into it; null when it is not kept (first read, too large,
   * another read filling it): the caller reads from disk.
   */
  private async cachedPartition(slot: number, table: string, pk: string): Promise<readonly Row[] | null> {
    const hit = this.cache.get(slot, pk);
    if (hit !== undefined) return hit;
    const fill = this.cache.beginFill(slot, pk);
    if (fill === null) return null;
    let rows: Row[] | null = null;
    try {
      rows = await this.readRange(table, pk, { limit: this.cache.maxRows + 1 }, false);
      if (rows.length > this.cache.maxRows) rows = null;
    } finally {
      this.cache.endFill(slot, pk, fill, rows);
    }
    return rows;
  }

  /** Settles with `write`, once a read-mostly partition it changes has been dropped from the cache. */
  private async landing<T>(table: string, pk: string, write: Promise<T>): Promise<T> {
    const slot = this.cacheSlots.get(table);
    if (slot === undefined) return write;
    try {
      return await write;
    } finally {
      this.cache.invalidate(slot, pk);
    }
  }

  /** `landing` for a batch, given its rows in read-mostly tables. */
  private async landingAll(items: readonly BatchItem[], write: Promise<void>): Promise<void> {
    try {
      await write;
    } finally {
      for (const it of items) this.cache.invalidate(this.cacheSlots.get(it.table)!, it.pk);
    }
  }

  private checkTable(table: string): void {
    if (!this.tables.has(table)) throw new Error(`table '${table}' does not exist (declare it in the module's tables)`);
  }

  /** Maps LevelDB's "cannot work" errors (closed, locked, I/O) to StoreUnavailableError. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError(`leveldb at ${this.path} is closed`);
    try {
      return await op();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^LEVEL_(DATABASE_NOT_OPEN|DATABASE_NOT_CLOSED|LOCKED|IO_ERROR|CORRUPTION|ITERATOR_NOT_OPEN)/.test(code)) {
        throw new StoreUnavailableError(`leveldb at ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }
}
