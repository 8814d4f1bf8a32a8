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
 *
 * A partition is kept from its second read on: the first only marks it in
 * a fixed-size bitmap. Reconnects (a phone's many per day) read the same
 * partitions again, while what is read once (a first login, a one-off
 * lookup) costs no cache memory: a cached account takes ~1.1 KB of heap.
 *
 * Entries are grouped by partition key: one account's partitions share their
 * key (its bare JID) across tables, and one Map slot. Keys not read lately
 * go first once the estimated heap passes `maxBytes` (evictSecondChance).
 */
import { inRange } from '../sort-key.js';
import { isExpired } from '../ttl.js';
import type { RangeOptions, Row } from '../wide-column.js';
import { evictSecondChance, type SecondChance } from '../../util/second-chance.js';

interface Fill {
  stale: boolean;
}

/** One partition key's cached partitions, by table slot. */
interface Entry extends SecondChance {
  partitions: (readonly Row[] | undefined)[];
  bytes: number;
}

/** Rough heap cost beyond the strings: a row object, an entry with its Map slot, a partition's array. */
const ROW_OVERHEAD = 56;
const ENTRY_OVERHEAD = 96;
const PARTITION_OVERHEAD = 32;
const NO_ROWS: readonly Row[] = Object.freeze([]);
/** 2^20 bits (128 KiB). Cleared after 2^18 marks, so at most a quarter are set and a false "seen" stays rare. */
const SEEN_BITS = 1 << 20;
const SEEN_MARKS_BEFORE_CLEAR = 1 << 18;

/** FNV-1a over the table slot and the key's UTF-16 code units. */
function seenBit(slot: number, pk: string): number {
  let h = (0x811c9dc5 ^ slot) >>> 0;
  for (let i = 0; i < pk.length; i++) h = Math.imul(h ^ pk.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (SEEN_BITS - 1);
}

/** A fill's key: table slot and partition key (slots are numbers, so the first space ends one). */
function fillId(slot: number, pk: string): string {
  return `${slot} ${pk}`;
}

function partitionBytes(rows: readonly Row[]): number {
  if (rows.length === 0) return 8;
  let bytes = PARTITION_OVERHEAD;
  for (const row of rows) bytes += ROW_OVERHEAD + row.sk.length + row.value.length;
  return bytes;
}

export class PartitionCache {
  /** Oldest insertion first; a hit flags its entry (evictSecondChance). */
  private readonly entries = new Map<string, Entry>();
  /** Fills in flight, by `fillId`. */
  private readonly fills = new Map<string, Fill>();
  private bytes = 0;
  private slots = 0;
  /** Partitions read once since the last clear (a bit each, hashed; collisions only admit early). */
  private readonly seen = new Uint8Array(SEEN_BITS / 8);
  private seenMarks = 0;

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

  /** A slot for one more table; each key's entry has room for every slot so far. */
  newSlot(): number {
    return this.slots++;
  }

  /** Every row of the partition in table `slot`, expired ones included, in sort-key order; undefined on a miss. */
  get(slot: number, pk: string): readonly Row[] | undefined {
    const entry = this.entries.get(pk);
    const rows = entry?.partitions[slot];
    if (rows === undefined) return undefined;
    entry!.recent = true;
    return rows;
  }

  /**
   * Call before reading a missed partition; null when it is not to be kept:
   * on its first read (only marked as seen), or while another fill of it is
   * in flight (that fill may already be stale).
   */
  beginFill(slot: number, pk: string): Fill | null {
    if (!this.seenBefore(slot, pk)) return null;
    const id = fillId(slot, pk);
    if (this.fills.has(id)) return null;
    const fill: Fill = { stale: false };
    this.fills.set(id, fill);
    return fill;
  }

  /** Keeps `rows` unless a write landed since `beginFill`; null gives the fill up (partition too large, read failed). */
  endFill(slot: number, pk: string, fill: Fill, rows: Row[] | null): void {
    const id = fillId(slot, pk);
    if (this.fills.get(id) === fill) this.fills.delete(id);
    if (rows === null || fill.stale) return;
    for (const row of rows) Object.freeze(row);
    const partition = rows.length === 0 ? NO_ROWS : Object.freeze(rows);
    const bytes = partitionBytes(partition);
    if (bytes + ENTRY_OVERHEAD + pk.length > this.maxBytes) return;
    let entry = this.entries.get(pk);
    if (entry === undefined) {
      entry = { partitions: new Array<readonly Row[] | undefined>(this.slots), bytes: ENTRY_OVERHEAD + pk.length, recent: false };
      this.bytes += entry.bytes;
      this.entries.set(pk, entry);
    } else {
      entry.recent = true; // another of its partitions was read
      const old = entry.partitions[slot];
      if (old !== undefined) this.resize(entry, -partitionBytes(old));
    }
    entry.partitions[slot] = partition;
    this.resize(entry, bytes);
    evictSecondChance(
      this.entries,
      () => this.bytes > this.maxBytes,
      (_, dropped) => {
        this.bytes -= dropped.bytes;
      },
    );
  }

  /** A write to the partition has landed (or failed, leaving it unknown). */
  invalidate(slot: number, pk: string): void {
    const entry = this.entries.get(pk);
    const old = entry?.partitions[slot];
    if (old !== undefined) {
      entry!.partitions[slot] = undefined;
      this.resize(entry!, -partitionBytes(old));
    }
    const fill = this.fills.get(fillId(slot, pk));
    if (fill !== undefined) fill.stale = true;
  }

  /** Partitions and estimated bytes held (walks every entry: for tests). */
  get size(): { partitions: number; bytes: number } {
    let partitions = 0;
    for (const entry of this.entries.values()) for (const rows of entry.partitions) if (rows !== undefined) partitions++;
    return { partitions, bytes: this.bytes };
  }

  /** True when the partition was read before; marks it otherwise. */
  private seenBefore(slot: number, pk: string): boolean {
    const bit = seenBit(slot, pk);
    const mask = 1 << (bit & 7);
    if ((this.seen[bit >>> 3]! & mask) !== 0) return true;
    this.seen[bit >>> 3]! |= mask;
    if (++this.seenMarks >= SEEN_MARKS_BEFORE_CLEAR) {
      this.seen.fill(0);
      this.seenMarks = 0;
    }
    return false;
  }

  private resize(entry: Entry, delta: number): void {
    entry.bytes += delta;
    this.bytes += delta;
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
