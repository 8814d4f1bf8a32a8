/**
 * What every server launcher shares: the contract the runner sees, a
 * self-signed certificate, waiting for a port, reading a process's RSS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface LaunchOptions {
  domain: string;
  /** Loopback address to listen on; a dedicated one keeps clear of other servers on 127.0.0.1. */
  host: string;
  c2sPort: number;
  httpPort: number;
  /** CPU list for `taskset -c`, e.g. "0"; empty string means unpinned. */
  cpus: string;
  /** Clients may skip STARTTLS (`--transport tcp-plain`): the server must not require it. */
  allowPlainTcp: boolean;
  /** Accounts the run will use, for launchers that must create them before start. */
  accounts: { usernames: string[]; password: string };
}

export interface RunningServer {
  name: string;
  /** Process whose VmRSS is the server's memory (the Lua, BEAM or Node process). */
  pid: number;
  domain: string;
  host: string;
  c2sPort: number;
  webSocketUrl: string | undefined;
  /** 'in-band': the generator registers accounts with XEP-0077; 'before-start': the launcher created them. */
  provisioning: 'in-band' | 'before-start';
  version: string;
  /** Several nodes of one deployment: account N logs in to nodes[N % nodes.length]. Absent: host and c2sPort. */
  nodes?: { host: string; port: number }[];
  /** Every process whose CPU is the server's, by part (sori nodes, Redis, store); absent: [pid]. */
  cpuParts?: { label: string; pids: number[] }[];
  stop(): Promise<void>;
  /**
   * Stops the server and starts it again on the same data (accounts kept);
   * `pid` is the new process's afterwards. The idle scenario measures memory
   * on a fresh process, since a process that has been through a login storm
   * keeps its high-water mark and new sessions fill freed memory first.
   */
  restart?(): Promise<void>;
  /**
   * The longest the server's event loop was held since the previous call, in ms, where the server reports it
   * (sori: `nodejs_eventloop_lag_max_seconds` on /metrics); null when it could not be read. It tells a stall
   * of the whole server from a slow message.
   */
  eventLoopStallMs?(): Promise<number | null>;
}

/** Reads a Node server's `nodejs_eventloop_lag_max_seconds` (which the read resets), in ms; null when unreadable. */
export async function scrapeEventLoopStallMs(metricsUrl: string): Promise<number | null> {
  try {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) });
    const line = (await res.text()).split('\n').find((l) => l.startsWith('nodejs_eventloop_lag_max_seconds '));
    return line === undefined ? null : Number(line.split(' ')[1]) * 1000;
  } catch {
    return null;
  }
}

/** CPU seconds of every process of a deployment, by part. */
export function serverCpuSeconds(server: RunningServer): Record<string, number> {
  const parts = server.cpuParts ?? [{ label: server.name, pids: [server.pid] }];
  return Object.fromEntries(parts.map((part) => [part.label, part.pids.reduce((sum, pid) => sum + (processAlive(pid) ? readCpuSeconds(pid) : 0), 0)]));
}

export interface ServerLauncher {
  name: string;
  /** Scenarios this deployment is meant for; absent: all. */
  scenarios?: string[];
  /** Chat ramp when --rates is not given, for deployments far below the default ramp's first step. */
  chatRates?: { full: number[]; quick: number[] };
  start(options: LaunchOptions): Promise<RunningServer>;
}

export function makeRunDirectory(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `sori-bench-${name}-`));
}

/** Self-signed certificate for the test domain; loopback clients do not verify it. */
export function writeSelfSignedCertificate(directory: string, domain: string): { certificate: string; key: string } {
  const certificate = path.join(directory, `${domain}.crt`);
  const key = path.join(directory, `${domain}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
    '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain}`,
    '-keyout', key, '-out', certificate,
  ], { stdio: 'ignore' });
  return { certificate, key };
}

export async function waitForPort(port: number, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(200);
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

export async function waitForPortFree(port: number, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const free = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    if (free) return;
    await sleep(200);
  }
  throw new Error(`port ${host}:${port} is still busy after ${timeoutMs} ms`);
}

/** Resident set size of a process in bytes (VmRSS from /proc). */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** User and system CPU seconds from a /proc `stat` file (a process's or one thread's). */
function statCpuSeconds(stat: string): { user: number; system: number } {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return { user: Number(fields[11]) / ticksPerSecond, system: Number(fields[12]) / ticksPerSecond };
}

/** User+system CPU seconds a process has used so far (from /proc/<pid>/stat). */
export function readCpuSeconds(pid: number): number {
  const { user, system } = statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return user + system;
}

/** User and system CPU seconds of each thread of a process so far (from /proc/<pid>/task/<tid>/stat). */
export function readThreadCpuSeconds(pid: number): Map<number, { user: number; system: number }> {
  const threads = new Map<number, { user: number; system: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads; // the process is gone
  }
  for (const tid of tids) {
    try {
      threads.set(Number(tid), statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}

export function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Prefix for a command so it runs pinned to `cpus` (empty: unpinned). */
export function pinned(cpus: string, command: string[]): string[] {
  return cpus ? ['taskset', '-c', cpus, ...command] : command;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(100);
  }
  return !processAlive(pid);
}

/**
 * A server of one process that the runner can stop and start again on the same
 * data (sori, Prosody, ejabberd): `launch` settles with the pid once the server
 * listens, `stop` settles once that process is gone.
 */
export async function restartableServer(
  launch: () => Promise<number>,
  stop: (pid: number) => Promise<void>,
  options: LaunchOptions,
  described: Omit<RunningServer, 'pid' | 'stop' | 'restart'>,
): Promise<RunningServer> {
  const running: RunningServer = {
    ...described,
    pid: await launch(),
    stop: () => stop(running.pid),
    async restart() {
      await stop(running.pid);
      await waitForPortFree(options.c2sPort, options.host, 10_000);
      running.pid = await launch();
    },
  };
  return running;
}

/** Asks a process to stop (`ask`; SIGTERM by default), SIGKILLs it if it is still there after `graceMs`; settles once it is gone. */
export async function stopProcess(pid: number, graceMs = 10_000, ask: () => void = () => signal(pid, 'SIGTERM')): Promise<void> {
  if (processAlive(pid)) ask();
  if (!(await waitUntilGone(pid, graceMs))) signal(pid, 'SIGKILL');
  await waitUntilGone(pid, 5_000);
}

/** process.kill that tolerates a process which has just exited. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}
