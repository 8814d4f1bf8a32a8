/**
 * Messages between the runner and its load-generator worker processes.
 * Every command carries an id; the worker answers with the same id. The
 * worker may run several commands at once (MAM queries during a chat step).
 */

export interface Target {
  host: string;
  port: number;
  domain: string;
  webSocketUrl: string | undefined;
  /** TCP without STARTTLS (`--transport tcp-plain`). */
  plainTcp?: boolean;
  password: string;
  timeoutMs: number;
  /** Cluster nodes: account N connects to nodes[N % nodes.length] (so the two ends of a pair sit on different nodes). */
  nodes?: { host: string; port: number }[];
}

export type Command =
  | { kind: 'target'; target: Target }
  | { kind: 'register'; accounts: number[]; concurrency: number }
  /** Log accounts in and keep them connected (chat pairs, idle sessions, or warming the SCRAM cache). */
  | { kind: 'connect'; accounts: number[]; concurrency: number }
  | { kind: 'disconnect-all' }
  /** Chat among held pairs at `ratePerSecond` (this worker's share) for `durationMs`, then wait up to `drainMs` for deliveries. */
  | { kind: 'chat'; pairs: [number, number][]; ratePerSecond: number; durationMs: number; drainMs: number; step: number }
  /** Closed-loop MAM page queries by `accounts` (already connected) for `durationMs`. */
  | { kind: 'mam'; accounts: number[]; durationMs: number; pageSize: number }
  | { kind: 'cpu' };

export interface ConnectResult {
  connected: number;
  failed: number;
  errors: string[];
  loginMs: Float64Array;
  elapsedMs: number;
}

export interface RegisterResult {
  created: number;
  existed: number;
  failed: number;
  errors: string[];
}

export interface ChatResult {
  sent: number;
  received: number;
  /** Delivery latencies (ms) from the send time carried in the body to arrival. */
  latencyMs: Float64Array;
  /** Largest delay between a message's scheduled and actual send: the generator's own lag, reported apart. */
  maxSendLagMs: number;
  /** Longest the worker's event loop was held during the step (sending, reading, GC): time a latency may owe the generator. */
  generatorStallMs: number;
  errors: string[];
}

export interface MamResult {
  queries: number;
  failed: number;
  latencyMs: Float64Array;
  messagesReturned: number;
  errors: string[];
}

export interface CpuResult {
  userMicros: number;
  systemMicros: number;
  /** Share of wall time the event loop was busy; far above the CPU share means the worker was starved of CPU. */
  eventLoopUtilization: number;
}

export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

export function accountName(index: number): string {
  return `bench${index}`;
}
