/**
 * Cassandra backend: one keyspace, one CQL table per logical table,
 *
 *   (pk text, sk text, v text, PRIMARY KEY ((pk), sk)) WITH CLUSTERING ORDER BY (sk ASC)
 *
 * so a partition is one Cassandra partition and `range` is one slice query.
 * `text` clustering columns compare as UTF-8 bytes, which is our sort order.
 * Expiry is Cassandra's own `USING TTL`; conditional writes are lightweight
 * transactions (Paxos), `IF NOT EXISTS` and `IF v = ?`.
 */
import cassandra from 'cassandra-driver';
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
import { isEmptyRange } from '../sort-key.js';
import { cql, replicationLiteral, type Replication } from './cql.js';

export interface CassandraStoreConfig {
  /** `host` or `host:port`. */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  /** Used when the keyspace is created; default SimpleStrategy, replication_factor 1. */
  replication?: Replication;
  credentials?: { username: string; password: string };
}

type CqlRow = cassandra.types.Row;

const PAGE = 1000;
const BATCH_STATEMENTS = 100;
/**
 * Bound on one batch's keys and values, counted as three bytes per UTF-16
 * unit (UTF-8's most). Cassandra refuses a request over
 * native_transport_max_frame_size (16 MiB) and a mutation over half a commit
 * log segment (16 MiB): a hundred archived messages of 200 KB in one partition
 * were refused whole.
 */
const BATCH_BYTES = 4 * 1024 * 1024;
const WRITE_CONCURRENCY = 8;
const { consistencies, responseErrorCodes } = cassandra.types;
/** Server answers that mean "not now" rather than "wrong request". */
const UNAVAILABLE_CODES = new Set<number>([
  responseErrorCodes.unavailableException,
  responseErrorCodes.overloaded,
  responseErrorCodes.isBootstrapping,
  responseErrorCodes.writeTimeout,
  responseErrorCodes.readTimeout,
  responseErrorCodes.serverError,
]);

/**
 * Cassandra reports the remaining TTL in seconds; an UPDATE ... USING TTL on
 * a row first written without one can leave the row with a null `v` once it
 * expires, so rows without a value count as absent.
 */
function toRow(pk: string, r: CqlRow): Row | undefined {
  const value = r.get('v') as string | null;
  if (value === null) return undefined;
  const ttl = r.get('ttl') as number | null;
  const row: Row = { pk, sk: r.get('sk') as string, value };
  if (ttl !== null) row.expiresAt = Math.floor(Date.now() / 1000) + ttl;
  return row;
}

async function runLimited<T>(tasks: readonly T[], limit: number, fn: (task: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await fn(tasks[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

export class CassandraStore implements WideColumnStore {
  readonly name = 'cassandra';
  readonly capabilities: StoreCapabilities = { ttl: true, compareAndSet: true, maxBatch: 500 };
  private readonly client: cassandra.Client;
  private readonly keyspace: string;

  constructor(private readonly config: CassandraStoreConfig) {
    assertTableName(config.keyspace);
    this.keyspace = config.keyspace;
    this.client = new cassandra.Client({
      contactPoints: config.contactPoints,
      localDataCenter: config.localDataCenter,
      ...(config.credentials && { credentials: config.credentials }),
      queryOptions: {
        prepare: true,
        consistency: consistencies.localQuorum,
        serialConsistency: consistencies.localSerial,
      },
    });
  }

  async ensureTables(specs: readonly TableSpec[]): Promise<void> {
    for (const s of specs) assertTableName(s.name);
    const replication = replicationLiteral(this.config.replication ?? { class: 'SimpleStrategy', replication_factor: 1 });
    // DDL goes one statement at a time: concurrent schema changes race in Cassandra.
    await this.exec(`CREATE KEYSPACE IF NOT EXISTS ${this.keyspace} WITH replication = ${replication}`, [], false);
    for (const s of specs) {
      await this.exec(
        `CREATE TABLE IF NOT EXISTS ${this.keyspace}.${s.name} (pk text, sk text, v text, PRIMARY KEY ((pk), sk)) WITH CLUSTERING ORDER BY (sk ASC)`,
        [],
        false,
      );
    }
  }

  async get(table: string, pk: string, sk: string): Promise<string | undefined> {
    const rs = await this.exec(cql.get(this.qualified(table)), [pk, sk]);
    return (rs.first()?.get('v') as string | null | undefined) ?? undefined;
  }

  async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    const t = this.qualified(table);
    const ttl = options?.ttlSeconds ?? 0;
    if (options?.ifNotExists) return this.applied(await this.exec(cql.insertIfNotExists(t), [pk, sk, value, ttl]));
    if (options?.ifValue !== undefined) return this.applied(await this.exec(cql.updateIfValue(t), [ttl, value, pk, sk, options.ifValue]));
    await this.exec(cql.insert(t), [pk, sk, value, ttl]);
    return true;
  }

  /** Unlogged batches of one partition each (no batchlog, one replica set), several partitions in parallel. */
  async batchPut(items: readonly BatchItem[]): Promise<void> {
    const groups = new Map<string, BatchItem[]>();
    for (const it of items) {
      const key = `${it.table}\u0000${it.pk}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = []));
      group.push(it);
    }
    const batches: BatchItem[][] = [];
    for (const group of groups.values()) {
      let batch: BatchItem[] = [];
      let bytes = 0;
      for (const it of group) {
        const size = (it.pk.length + it.sk.length + it.value.length) * 3;
        if (batch.length === BATCH_STATEMENTS || (batch.length > 0 && bytes + size > BATCH_BYTES)) {
          batches.push(batch);
          batch = [];
          bytes = 0;
        }
        batch.push(it);
        bytes += size;
      }
      batches.push(batch);
    }
    await runLimited(batches, WRITE_CONCURRENCY, async (batch) => {
      const queries = batch.map((it) => ({ query: cql.insert(this.qualified(it.table)), params: [it.pk, it.sk, it.value, it.ttlSeconds ?? 0] }));
      await this.guard(() => this.client.batch(queries, { prepare: true, logged: false }));
    });
  }

  async delete(table: string, pk: string, sk: string): Promise<void> {
    await this.exec(cql.delete(this.qualified(table)), [pk, sk]);
  }

  async deletePartition(table: string, pk: string): Promise<void> {
    await this.exec(cql.deletePartition(this.qualified(table)), [pk]);
  }

  async range(table: string, pk: string, options: RangeOptions = {}): Promise<Row[]> {
    if (isEmptyRange(options)) return [];
    const params: unknown[] = [pk];
    if (options.start !== undefined) params.push(options.start);
    if (options.end !== undefined) params.push(options.end);
    const limit = options.limit ?? Infinity;
    const out: Row[] = [];
    const query = cql.slice(this.qualified(table), options);
    for await (const r of this.rows(query, params, Math.min(limit, PAGE))) {
      const row = toRow(pk, r);
      if (row === undefined) continue;
      out.push(row);
      if (out.length >= limit) break;
    }
    return out;
  }

  async *scan(table: string): AsyncIterable<Row> {
    for await (const r of this.rows(cql.scan(this.qualified(table)), [], PAGE)) {
      const row = toRow(r.get('pk') as string, r);
      if (row !== undefined) yield row;
    }
  }

  async close(): Promise<void> {
    await this.client.shutdown();
  }

  /** Rows of a query, fetched page by page with the driver's paging state. */
  private async *rows(query: string, params: unknown[], fetchSize: number): AsyncIterable<CqlRow> {
    let pageState: string | undefined;
    do {
      const rs = await this.guard(() => this.client.execute(query, params, { prepare: true, fetchSize, pageState }));
      yield* rs.rows;
      pageState = rs.pageState ?? undefined;
    } while (pageState !== undefined);
  }

  private qualified(table: string): string {
    assertTableName(table);
    return `${this.keyspace}.${table}`;
  }

  private applied(rs: cassandra.types.ResultSet): boolean {
    return rs.first()?.get('[applied]') === true;
  }

  private exec(query: string, params: unknown[], prepare = true): Promise<cassandra.types.ResultSet> {
    return this.guard(() => this.client.execute(query, params, { prepare }));
  }

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const { errors } = cassandra;
      const unavailable =
        err instanceof errors.NoHostAvailableError ||
        err instanceof errors.OperationTimedOutError ||
        err instanceof errors.BusyConnectionError ||
        (err instanceof errors.ResponseError && UNAVAILABLE_CODES.has(err.code)) ||
        (err instanceof Error && /has been shutdown/i.test(err.message));
      if (unavailable) throw new StoreUnavailableError(`cassandra ${this.config.contactPoints.join(',')}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }
}
