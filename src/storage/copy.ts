/**
 * Copies every row of some tables from one store to another (moving a server
 * from LevelDB to DynamoDB or Cassandra, or between clusters), table by
 * table, partition by partition, with batchPut.
 *
 * Resumable: after each finished partition the last partition key is written
 * to a small JSON checkpoint file; a later run with the same file skips the
 * finished tables and the partitions up to that key. This relies on `scan`
 * returning partitions in the same order on both runs, which holds for every
 * backend while the source is not written to. If the checkpointed partition is
 * gone from the source, the table is copied again from its start (writes are
 * overwrites, so copying a row twice is harmless).
 *
 * Afterwards both sides are counted; a table whose counts differ is reported
 * in `mismatched` (the target may hold older rows of its own, or the source
 * changed during the copy).
 *
 * A row the target can never hold (RowTooLargeError: a message over
 * DynamoDB's 400 KB item, which LevelDB and Cassandra took) does not stop the
 * copy: the rest of its batch is written, and the row is listed in `refused`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { RowTooLargeError, type BatchItem, type Row, type TableSpec, type WideColumnStore } from './wide-column.js';

export interface CopyProgress {
  table: string;
  /** Rows copied so far in this table (including those of an earlier, interrupted run). */
  rows: number;
  /** The partition that was just finished. */
  pk: string;
}

export interface CopyOptions {
  onProgress?: (progress: CopyProgress) => void;
  /** Checkpoint file: read when it exists, written after every partition. */
  resumeFrom?: string;
  /** Rows per batchPut call; defaults to the target's maxBatch, at most 500. */
  batchSize?: number;
}

export interface TableCount {
  copied: number;
  source: number;
  target: number;
  /** Rows the target refused (present when there were any, over every run of a resumed copy). */
  refused?: number;
}

export interface RefusedRow {
  table: string;
  pk: string;
  sk: string;
  reason: string;
}

export interface CopyResult {
  tables: Record<string, TableCount>;
  /** Tables whose source row count differs from the target's plus the refused rows. */
  mismatched: string[];
  /** Rows the target cannot hold, left out (this run's; a resumed copy counts earlier ones in `tables`). */
  refused: RefusedRow[];
}

interface TableCheckpoint {
  done: boolean;
  lastPk?: string;
  rows: number;
  refused?: number;
}

type Checkpoint = Record<string, TableCheckpoint>;

function loadCheckpoint(path: string | undefined): Checkpoint {
  if (path === undefined || !existsSync(path)) return {};
  return JSON.parse(readFileSync(path, 'utf8')) as Checkpoint;
}

function saveCheckpoint(path: string | undefined, checkpoint: Checkpoint): void {
  if (path === undefined) return;
  // Write-then-rename so a crash never leaves a half-written checkpoint.
  writeFileSync(`${path}.tmp`, JSON.stringify(checkpoint));
  renameSync(`${path}.tmp`, path);
}

function toItem(table: string, row: Row, nowMs: number): BatchItem | undefined {
  if (row.expiresAt === undefined) return { table, pk: row.pk, sk: row.sk, value: row.value };
  const ttlSeconds = Math.ceil(row.expiresAt - nowMs / 1000);
  return ttlSeconds > 0 ? { table, pk: row.pk, sk: row.sk, value: row.value, ttlSeconds } : undefined;
}

async function countRows(store: WideColumnStore, table: string): Promise<number> {
  let n = 0;
  for await (const _ of store.scan(table)) n++;
  return n;
}

/** Partitions of a scan, each as one array of rows. */
async function* partitions(rows: AsyncIterable<Row>): AsyncIterable<Row[]> {
  let current: Row[] = [];
  for await (const row of rows) {
    if (current.length > 0 && current[0]!.pk !== row.pk) {
      yield current;
      current = [];
    }
    current.push(row);
  }
  if (current.length > 0) yield current;
}

async function copyTable(
  from: WideColumnStore,
  to: WideColumnStore,
  table: string,
  checkpoint: Checkpoint,
  options: CopyOptions,
  refused: RefusedRow[],
): Promise<TableCheckpoint> {
  const state: TableCheckpoint = checkpoint[table] ?? { done: false, rows: 0 };
  checkpoint[table] = state;
  if (state.done) return state;
  const batchSize = options.batchSize ?? Math.min(to.capabilities.maxBatch, 500);
  let skipUntil = state.lastPk;
  let pending: BatchItem[] = [];
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      await to.batchPut(batch);
    } catch (e) {
      if (!(e instanceof RowTooLargeError)) throw e;
      // Backends check every row before writing any: write the batch's rows one by one, and list the refused.
      for (const item of batch) {
        await to.batchPut([item]).catch((err: unknown) => {
          if (!(err instanceof RowTooLargeError)) throw err;
          refused.push({ table, pk: item.pk, sk: item.sk, reason: err.message });
          state.rows--;
          state.refused = (state.refused ?? 0) + 1;
        });
      }
    }
  };

  for (let pass = 0; pass < 2; pass++) {
    for await (const rows of partitions(from.scan(table))) {
      const pk = rows[0]!.pk;
      if (skipUntil !== undefined) {
        if (pk === skipUntil) skipUntil = undefined;
        continue;
      }
      const now = Date.now();
      for (const row of rows) {
        const item = toItem(table, row, now);
        if (item === undefined) continue; // expired since it was read
        pending.push(item);
        state.rows++;
        if (pending.length >= batchSize) await flush();
      }
      await flush();
      state.lastPk = pk;
      saveCheckpoint(options.resumeFrom, checkpoint);
      options.onProgress?.({ table, rows: state.rows, pk });
    }
    if (skipUntil === undefined) break;
    // The checkpointed partition no longer exists: start this table over.
    skipUntil = undefined;
    state.rows = 0;
    delete state.refused;
  }
  state.done = true;
  saveCheckpoint(options.resumeFrom, checkpoint);
  return state;
}

export async function copyStore(
  from: WideColumnStore,
  to: WideColumnStore,
  tables: readonly TableSpec[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  await from.ensureTables(tables);
  await to.ensureTables(tables);
  const checkpoint = loadCheckpoint(options.resumeFrom);
  const result: CopyResult = { tables: {}, mismatched: [], refused: [] };
  for (const spec of tables) {
    const { rows: copied, refused = 0 } = await copyTable(from, to, spec.name, checkpoint, options, result.refused);
    const [source, target] = await Promise.all([countRows(from, spec.name), countRows(to, spec.name)]);
    result.tables[spec.name] = refused > 0 ? { copied, source, target, refused } : { copied, source, target };
    if (source !== target + refused) result.mismatched.push(spec.name);
  }
  return result;
}
