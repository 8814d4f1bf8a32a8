/**
 * Whole partitions of read-mostly tables (accounts, rosters, offline queues),
 * kept in memory by the embedded store. Every login reads seven such
 * partitions, most of them empty; from LevelDB each read is a hop to libuv's
 * thread pool and back, which on a busy core costs more than the work itself.
 *
 * Only a store that sees every write may keep this: LevelDB's directory is
 * open in one process, and every write to it goes through LevelStore, which
 * calls `invalidate` once the write has landed. A cluster's shared stores
 * (DynamoDB, Cassandra) have no such cache.
 *
 * A read that misses fills the entry, unless a write to the partition lands
 * while that read is in flight: the rows it read may predate the write, so
 * they are returned but not kept.
 */
import { inRange } from '../sort-key.js';
import { isExpired } from '../ttl.js';
import type { RangeOptions, Row } from '../wide-column.js';

interface Fill {
  stale: boolean;
}

interface Entry {
  rows: readonly Row[];
  bytes: number;
}

/** Rough heap cost of a row and of an entry beyond its strings (object headers, Map slot). */
const ROW_OVERHEAD = 64;
const ENTRY_OVERHEAD = 160;

export class PartitionCache {
  /** Least recently used first: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private readonly fills = new Map<string, Fill>();
  private bytes = 0;

  /**
   * @param maxBytes estimated heap the entries may take; 0 turns the cache off.
   * @param maxRows larger partitions are read from disk every time.
   */
  constructor(
    readonly maxBytes: number,
    readonly maxRows: number,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Every row of the partition, expired ones included, in sort-key order; undefined on a miss. */
  get(id: string): readonly Row[] | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.rows;
  }

  /**
   * Call before reading a missed partition; null when another fill of it is
   * in flight (read without caching then: that fill may already be stale).
   */
  beginFill(id: string): Fill | null {
    if (this.fills.has(id)) return null;
    const fill: Fill = { stale: false };
    this.fills.set(id, fill);
    return fill;
  }

  /** Keeps `rows` unless a write landed since `beginFill`; null gives the fill up (partition too large, read failed). */
  endFill(id: string, fill: Fill, rows: Row[] | null): void {
    if (this.fills.get(id) === fill) this.fills.delete(id);
    if (rows === null || fill.stale) return;
    let bytes = ENTRY_OVERHEAD + 2 * id.length;
    for (const row of rows) {
      bytes += ROW_OVERHEAD + 2 * (row.sk.length + row.value.length);
      Object.freeze(row);
    }
    if (bytes > this.maxBytes) return;
    this.drop(id);
    this.entries.set(id, { rows: Object.freeze(rows), bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  /** A write to the partition has landed (or failed, leaving it unknown). */
  invalidate(id: string): void {
    this.drop(id);
    const fill = this.fills.get(id);
    if (fill !== undefined) fill.stale = true;
  }

  /** Entries and estimated bytes held, for tests and `ctl`. */
  get size(): { partitions: number; bytes: number } {
    return { partitions: this.entries.size, bytes: this.bytes };
  }

  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }
}

/** The live rows of a cached partition that a range read with `options` returns. */
export function selectRows(rows: readonly Row[], options: RangeOptions, nowMs: number): Row[] {
  const out: Row[] = [];
  const limit = options.limit ?? Infinity;
  const last = rows.length - 1;
  for (let n = 0; n <= last && out.length < limit; n++) {
    const row = rows[options.reverse ? last - n : n]!;
    if (!isExpired(row.expiresAt, nowMs) && inRange(row.sk, options)) out.push(row);
  }
  return out;
}
