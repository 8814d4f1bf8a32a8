import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Gives the young generation's memory back once the server goes quiet.
 *
 * Under load (a connect storm, a chat burst) V8 grows the young generation
 * up to --max-semi-space-size: with sori's 64 MiB that is ~100 MiB of
 * resident memory. V8 shrinks it again only at the end of a collection that
 * finds the allocation rate low, and a server that goes quiet allocates so
 * little that no collection runs for minutes: the memory stays, ~10 KiB per
 * session at 10,000 idle sessions (docs/performance-log.md). So once the event
 * loop has been nearly idle for a few seconds in a row, this asks V8 for
 * young-generation collections (a few tries, as many seconds apart) and
 * lets V8 decide, by its own allocation-rate rule, whether to shrink. Only
 * young collections: a full one would also free the old generation's share
 * of the burst, but it holds the event loop for a time that grows with the
 * heap (~100 ms at 10,000 sessions). A busy server is never interrupted:
 * any busy second restarts the count.
 */

export interface HeapTrimOptions {
  /** Consecutive quiet seconds before the collection; 0 turns trimming off. */
  quietSeconds: number;
  /** A second counts as quiet when the event loop was busy less than this share of it. */
  quietUtilization?: number;
  /** Below this much resident young generation a trim would gain too little to bother. */
  minNewSpaceBytes?: number;
  /** Told of each trim. */
  onTrim?: (trim: HeapTrim) => void;
}

/** One trim: the young generation's resident bytes before and after, and how long the event loop was held. */
export interface HeapTrim {
  beforeBytes: number;
  afterBytes: number;
  pauseMs: number;
}

/** What the trimmer reads and does, injectable so that its decisions can be tested without waiting. */
export interface HeapTrimRuntime {
  busyShareSinceLastCall(): number;
  newSpaceResidentBytes(): number;
  collectYoungGeneration(): void;
}

const DEFAULT_QUIET_UTILIZATION = 0.05;
const DEFAULT_MIN_NEW_SPACE_BYTES = 8 * 1024 * 1024;
const MAX_TRIES_PER_QUIET_STRETCH = 4;

/** Counts quiet seconds and trims when a quiet stretch is long enough; `tick()` is called once a second. */
export class HeapTrimmer {
  private quietFor = 0;
  private readonly quietUtilization: number;
  private readonly minNewSpaceBytes: number;

  constructor(
    private readonly options: HeapTrimOptions,
    private readonly runtime: HeapTrimRuntime,
  ) {
    this.quietUtilization = options.quietUtilization ?? DEFAULT_QUIET_UTILIZATION;
    this.minNewSpaceBytes = options.minNewSpaceBytes ?? DEFAULT_MIN_NEW_SPACE_BYTES;
  }

  /** Returns whether this tick collected. */
  tick(): boolean {
    if (this.runtime.busyShareSinceLastCall() >= this.quietUtilization) {
      this.quietFor = 0;
      return false;
    }
    this.quietFor++;
    // Every quietSeconds while the young generation stays big, a few times per quiet stretch at most: V8 shrinks it
    // only when the intervals between its last collections, about 5 s of them, show a low allocation rate, so the
    // first try (which itself promotes what survived the burst) rarely shrinks it and the second or third does. A
    // server that stays quiet is then left alone.
    const { quietSeconds } = this.options;
    if (this.quietFor % quietSeconds !== 0 || this.quietFor > quietSeconds * MAX_TRIES_PER_QUIET_STRETCH) return false;
    const beforeBytes = this.runtime.newSpaceResidentBytes();
    if (beforeBytes < this.minNewSpaceBytes) return false;
    const started = performance.now();
    this.runtime.collectYoungGeneration();
    const pauseMs = performance.now() - started;
    this.options.onTrim?.({ beforeBytes, afterBytes: this.runtime.newSpaceResidentBytes(), pauseMs });
    return true;
  }
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/**
 * V8's gc() without starting node with --expose-gc, which would put it on
 * globalThis for every library to call: the flag is set only while a
 * throwaway context is made, and that context's gc is kept here.
 */
function privateGc(): GcFunction {
  const existing = (globalThis as { gc?: GcFunction }).gc;
  if (existing !== undefined) return existing;
  v8.setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
    if (typeof gc !== 'function') throw new Error('V8 did not give a new context gc()');
    return gc as GcFunction;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

function nodeRuntime(): HeapTrimRuntime {
  const gc = privateGc();
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    busyShareSinceLastCall() {
      const now = performance.eventLoopUtilization();
      const share = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return share;
    },
    newSpaceResidentBytes() {
      return v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
    },
    collectYoungGeneration() {
      // Three at once: the first two empty the young generation (survivors are copied once, then promoted), the third
      // finds it empty, so the interval up to the next try holds no promotion and V8 reads it as quiet. With one per
      // try, V8 on Node 20 shrank at the second to fourth try 5 s apart, and with tries 3 s apart sometimes never.
      for (let i = 0; i < 3; i++) gc({ type: 'minor' });
    },
  };
}

/**
 * Starts trimming this process's heap; the timer does not keep the process alive. `unavailable` says why it did not
 * start when this Node would not hand out gc(): the server then runs as before, holding what a burst grew.
 */
export function startHeapTrim(options: HeapTrimOptions, runtime?: HeapTrimRuntime): { stop(): void; unavailable?: string } {
  if (options.quietSeconds <= 0) return { stop() {} };
  let chosen = runtime;
  if (chosen === undefined) {
    try {
      chosen = nodeRuntime();
    } catch (e) {
      return { stop() {}, unavailable: (e as Error).message };
    }
  }
  const trimmer = new HeapTrimmer(options, chosen);
  const timer = setInterval(() => trimmer.tick(), 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
