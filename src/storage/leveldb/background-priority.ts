/**
 * LevelDB compacts in one background thread of our process. Under chat load
 * that thread rewrites tens of megabytes at a time, and when it shares a core
 * with the event loop every message waits behind it: measured on one core at
 * 8,000 msg/s, a one-second compaction pushed p99 delivery from ~20 ms past a
 * second. Giving the thread a higher nice value (RocksDB's
 * LowerThreadPoolCPUPriority does the same) lets it use the event loop's idle
 * time first; under the scheduler's weights it still gets about a tenth of a
 * busy core, so it keeps up unless the server is saturated anyway.
 *
 * LevelDB's default environment has one such thread per process, shared by
 * every open database, started on the first flush. Node cannot name threads,
 * so the first store opens its database and starts the thread on purpose
 * (`startThread`; opening a database that needs compaction may start it
 * already) and takes the one thread that appeared meanwhile; later stores
 * reuse that answer. Linux only;
 * anywhere else, or when the thread cannot be told apart, nothing is changed.
 */
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setPriority } from 'node:os';

export const COMPACTION_NICE = 10;

function threadIds(): Set<number> | null {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return null;
  }
}

let once: Promise<number | null> | undefined;

/** The process's LevelDB background thread, niced, or null when it could not be; `startThread` runs for the first store only. */
export function lowerBackgroundThreadPriority(startThread: () => Promise<void>): Promise<number | null> {
  once ??= startAndNice(startThread).catch((e: unknown) => {
    once = undefined; // the store failed to open: let the next one try
    throw e;
  });
  return once;
}

async function startAndNice(startThread: () => Promise<void>): Promise<number | null> {
  // libuv starts all its pool threads on the first operation that needs one; make sure
  // that has happened, so that only LevelDB's thread can appear while `startThread` runs.
  await stat('.');
  const before = threadIds();
  await startThread();
  if (before === null) return null;
  const started = [...(threadIds() ?? [])].filter((id) => !before.has(id));
  if (started.length !== 1) return null;
  try {
    setPriority(started[0]!, COMPACTION_NICE);
    return started[0]!;
  } catch {
    return null;
  }
}
