import {
  assertTableName,
  type BatchItem,
  type PutOptions,
  type RangeOptions,
  type Row,
  type StoreCapabilities,
  type TableSpec,
  type WideColumnStore,
} from '../wide-column.js';
import { compareSortKeys, inRange } from '../sort-key.js';

interface Cell {
  value: string;
  expiresAt?: number;
}

/** A partition: sort keys kept in an ordered array beside a map for point reads. */
class Partition {
  readonly cells = new Map<string, Cell>();
  keys: string[] = [];

  set(sk: string, cell: Cell): void {
    if (!this.cells.has(sk)) {
      const i = lowerBound(this.keys, sk);
      this.keys.splice(i, 0, sk);
    }
    this.cells.set(sk, cell);
  }

  delete(sk: string): void {
    if (!this.cells.delete(sk)) return;
    const i = lowerBound(this.keys, sk);
    if (this.keys[i] === sk) this.keys.splice(i, 1);
  }
}

function lowerBound(keys: string[], sk: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareSortKeys(keys[mid]!, sk) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** In-process backend for unit tests and throwaway servers. Nothing survives a restart. */
export class MemoryStore implements WideColumnStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { ttl: true, compareAndSet: true, maxBatch: 10_000 };
  private readonly tables = new Map<string, Map<string, Partition>>();
  /** Set by tests to simulate an outage: every call rejects. */
  failing: Error | null = null;

  async ensureTables(specs: readonly TableSpec[]): Promise<void> {
    for (const s of specs) {
      assertTableName(s.name);
      if (!this.tables.has(s.name)) this.tables.set(s.name, new Map());
    }
  }

  private table(name: string): Map<string, Partition> {
    const t = this.tables.get(name);
    if (t === undefined) throw new Error(`table '${name}' does not exist (declare it in the module's tables)`);
    return t;
  }

  private check(): void {
    if (this.failing !== null) throw this.failing;
  }

  private live(cell: Cell | undefined): Cell | undefined {
    if (cell === undefined) return undefined;
    if (cell.expiresAt !== undefined && cell.expiresAt * 1000 <= Date.now()) return undefined;
    return cell;
  }

  async get(table: string, pk: string, sk: string): Promise<string | undefined> {
    this.check();
    return this.live(this.table(table).get(pk)?.cells.get(sk))?.value;
  }

  async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    this.check();
    const t = this.table(table);
    let p = t.get(pk);
    const current = this.live(p?.cells.get(sk));
    if (options?.ifNotExists && current !== undefined) return false;
    if (options?.ifValue !== undefined && current?.value !== options.ifValue) return false;
    if (p === undefined) {
      p = new Partition();
      t.set(pk, p);
    }
    p.set(sk, { value, expiresAt: options?.ttlSeconds ? Math.floor(Date.now() / 1000) + options.ttlSeconds : undefined });
    return true;
  }

  async batchPut(items: readonly BatchItem[]): Promise<void> {
    this.check();
    for (const it of items) await this.put(it.table, it.pk, it.sk, it.value, it.ttlSeconds ? { ttlSeconds: it.ttlSeconds } : undefined);
  }

  async delete(table: string, pk: string, sk: string): Promise<void> {
    this.check();
    const t = this.table(table);
    const p = t.get(pk);
    if (p === undefined) return;
    p.delete(sk);
    if (p.cells.size === 0) t.delete(pk);
  }

  async deletePartition(table: string, pk: string): Promise<void> {
    this.check();
    this.table(table).delete(pk);
  }

  async range(table: string, pk: string, options: RangeOptions = {}): Promise<Row[]> {
    this.check();
    const p = this.table(table).get(pk);
    if (p === undefined) return [];
    const out: Row[] = [];
    const limit = options.limit ?? Infinity;
    const keys = p.keys;
    const step = options.reverse ? -1 : 1;
    for (let i = options.reverse ? keys.length - 1 : 0; i >= 0 && i < keys.length && out.length < limit; i += step) {
      const sk = keys[i]!;
      if (!inRange(sk, options)) continue;
      const cell = this.live(p.cells.get(sk));
      if (cell === undefined) continue;
      out.push(cell.expiresAt === undefined ? { pk, sk, value: cell.value } : { pk, sk, value: cell.value, expiresAt: cell.expiresAt });
    }
    return out;
  }

  async *scan(table: string): AsyncIterable<Row> {
    this.check();
    for (const [pk] of [...this.table(table)]) yield* await this.range(table, pk);
  }

  async close(): Promise<void> {}
}
