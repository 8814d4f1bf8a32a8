/**
 * Shared plumbing for the real services tests start (DynamoDB Local,
 * Cassandra, …): a free loopback port, a child process that dies with the
 * test run, and waiting until a port accepts connections.
 *
 * Every started child is remembered here and killed by a process 'exit'
 * handler and by `stopAllServices()` (called from the mocha root hook in
 * `hooks.ts`), so an aborted run leaves nothing behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    killAllSync();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Deletes a service's data dir when the test run ends. */
export function removeOnExit(dir: string): void {
  installExitHook();
  tempDirs.add(dir);
}

/** Asks the kernel for a port that is free right now on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartedChild {
  child: ChildProcess;
  /** The last output lines, for error messages when startup fails. */
  output(): string;
}

/** Spawns a child that is killed when this process exits; keeps its recent output. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): StartedChild {
  installExitHook();
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const tail: string[] = [];
  const keep = (chunk: Buffer): void => {
    tail.push(chunk.toString('utf8'));
    if (tail.length > 60) tail.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => tail.join('') };
}

function killAllSync(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Pids of the running tracked children (the benchmark pins them and bills their CPU to the server). */
export function trackedPids(): number[] {
  return [...children].flatMap((c) => (c.pid !== undefined && c.exitCode === null ? [c.pid] : []));
}

/** Stops every tracked child and waits for them to exit. */
export async function stopAllServices(): Promise<void> {
  const waits = [...children].map(
    (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 5000).unref();
      }),
  );
  await Promise.all(waits);
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Polls until `ready()` resolves true, the child exits, or the deadline
 * passes; the error names the service and shows its last output.
 */
export async function waitUntilReady(
  name: string,
  started: StartedChild,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { child } = started;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during startup (code ${child.exitCode ?? child.signalCode}):\n${started.output()}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not become ready within ${timeoutMs / 1000}s:\n${started.output()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `ready` check for services that are usable once their TCP port accepts. */
export function tcpReady(port: number): () => Promise<boolean> {
  return () => portAnswers(port);
}
