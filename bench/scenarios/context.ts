/** What a scenario gets from the runner, and the shape of what it returns. */
import { readThreadCpuSeconds, serverCpuSeconds as deploymentCpuSeconds, type RunningServer } from '../servers/common.js';
import type { WorkerPool } from '../worker/pool.js';

export interface BenchOptions {
  quick: boolean;
  loginAccounts: number;
  /** Logins in flight, one timed round per level. */
  loginConcurrency: number[];
  idleSessions: number;
  idleSettleSeconds: number;
  pairs: number;
  rates: number[];
  stepSeconds: number;
  fixedRate: number;
  fixedSeconds: number;
  p99TargetMs: number;
  mamQueriers: number;
  mamSeconds: number;
  mamPageSize: number;
  connectConcurrency: number;
}

export interface ScenarioContext {
  server: RunningServer;
  pool: WorkerPool;
  options: BenchOptions;
  log(line: string): void;
  /** Restarts the server on its data (RunningServer.restart) and gives it the run's CPU priority; false when the deployment cannot restart. */
  restartServer(): Promise<boolean>;
}

/** One number in the comparison table; `better` says which direction wins. */
export interface Figure {
  label: string;
  value: number;
  unit: string;
  better: 'higher' | 'lower' | 'none';
}

export interface ScenarioResult {
  scenario: string;
  figures: Figure[];
  /** Everything measured, for the JSON file. */
  details: Record<string, unknown>;
}

export interface CpuReport {
  wallSeconds: number;
  generatorCpuSeconds: number;
  serverCpuSeconds: number;
  /** Server CPU-seconds per wall second of each part of a multi-process deployment (sori nodes, Redis, store). */
  serverParts?: Record<string, number>;
  /** Generator CPU-seconds per wall second; 1.0 means one core fully busy. */
  generatorCores: number;
  /** Busiest worker's event-loop utilization (0..1). Near 1 means the generator may be the limit. */
  generatorEventLoop: number;
  serverCores: number;
  /**
   * For a one-process server: its busiest thread's CPU-seconds per wall second
   * (an event loop, a BEAM scheduler, Lua's one thread), and the kernel's share
   * of all its threads. A busiest thread near 1.0 is a server limited by one
   * thread whatever its total; the rest of the total is helper threads (GC,
   * storage, TLS).
   */
  serverThreads?: { busiest: number; kernel: number };
  /** The longest the server's event loop was held during the work, in ms, where the server reports it (RunningServer.eventLoopStallMs). */
  serverEventLoopStallMs?: number;
}

type ThreadTimes = ReturnType<typeof readThreadCpuSeconds>;

function threadShares(before: ThreadTimes, after: ThreadTimes, wallSeconds: number): { busiest: number; kernel: number } {
  let busiest = 0;
  let kernel = 0;
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { user: 0, system: 0 };
    busiest = Math.max(busiest, end.user - start.user + end.system - start.system);
    kernel += end.system - start.system;
  }
  return { busiest: busiest / wallSeconds, kernel: kernel / wallSeconds };
}

/** Measure generator and server CPU over `work`, so results can show who was saturated. */
export async function withCpu<T>(context: ScenarioContext, work: () => Promise<T>): Promise<{ value: T; cpu: CpuReport }> {
  await context.pool.cpuSince();
  const serverBefore = deploymentCpuSeconds(context.server);
  const oneProcess = context.server.cpuParts === undefined;
  const threadsBefore = oneProcess ? readThreadCpuSeconds(context.server.pid) : null;
  const total = (parts: Record<string, number>): number => Object.values(parts).reduce((sum, value) => sum + value, 0);
  // Read once to start its window at the work's start.
  await context.server.eventLoopStallMs?.();
  const started = performance.now();
  const value = await work();
  const wallSeconds = (performance.now() - started) / 1000;
  const stallMs = (await context.server.eventLoopStallMs?.()) ?? undefined;
  const generator = await context.pool.cpuSince();
  const generatorCpuSeconds = generator.cpuSeconds;
  const serverAfter = deploymentCpuSeconds(context.server);
  const serverCpuSeconds = total(serverAfter) - total(serverBefore);
  const labels = Object.keys(serverAfter);
  return {
    value,
    cpu: {
      wallSeconds,
      generatorCpuSeconds,
      serverCpuSeconds,
      generatorCores: generatorCpuSeconds / wallSeconds,
      generatorEventLoop: generator.maxEventLoopUtilization,
      serverCores: serverCpuSeconds / wallSeconds,
      serverParts: labels.length > 1 ? Object.fromEntries(labels.map((label) => [label, (serverAfter[label]! - serverBefore[label]!) / wallSeconds])) : undefined,
      serverThreads: threadsBefore === null ? undefined : threadShares(threadsBefore, readThreadCpuSeconds(context.server.pid), wallSeconds),
      serverEventLoopStallMs: stallMs === null ? undefined : stallMs,
    },
  };
}

export function describeCpu(cpu: CpuReport): string {
  const busy = cpu.generatorEventLoop > 0.9 ? ' (GENERATOR SATURATED or starved: treat as a lower bound)' : '';
  return `generator ${(cpu.generatorCores * 100).toFixed(0)}% of a core with event loop ${(cpu.generatorEventLoop * 100).toFixed(0)}% busy${busy}, server ${(cpu.serverCores * 100).toFixed(0)}% of a core${cpu.serverParts ? ` (${Object.entries(cpu.serverParts).map(([label, cores]) => `${label} ${(cores * 100).toFixed(0)}%`).join(', ')})` : ''}${cpu.serverThreads ? ` (busiest thread ${(cpu.serverThreads.busiest * 100).toFixed(0)}%, kernel ${(cpu.serverThreads.kernel * 100).toFixed(0)}%)` : ''}${cpu.serverEventLoopStallMs !== undefined ? `, longest event-loop stall ${cpu.serverEventLoopStallMs.toFixed(0)} ms` : ''} over ${cpu.wallSeconds.toFixed(1)} s`;
}

/**
 * Wait until the server uses < 10% of a core for two seconds in a row (at
 * most `maxSeconds`). Servers keep working after clients leave — Prosody
 * needs minutes to tear down 10,000 sessions on one core — and that work
 * must not be billed to the next scenario. Returns the seconds waited.
 */
export async function waitForServerQuiet(context: ScenarioContext, maxSeconds = 300): Promise<number> {
  const started = performance.now();
  let quietSamples = 0;
  while (quietSamples < 2 && performance.now() - started < maxSeconds * 1000) {
    const sum = (): number => Object.values(deploymentCpuSeconds(context.server)).reduce((total, value) => total + value, 0);
    const before = sum();
    await sleep(1000);
    quietSamples = sum() - before < 0.1 ? quietSamples + 1 : 0;
  }
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 3) context.log(`waited ${seconds.toFixed(0)} s for the server to go idle`);
  return seconds;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Accounts 1..count. */
export function accountRange(count: number, first = 1): number[] {
  return Array.from({ length: count }, (_, index) => first + index);
}
