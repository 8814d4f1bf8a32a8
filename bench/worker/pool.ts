/**
 * Runner-side handle on the generator's worker processes. Workers are forked
 * Node processes (tsx loader), each pinned with `taskset -a -p` to the
 * generator's CPUs so the generator never competes with the server's core.
 * CPU is read from every worker (process.cpuUsage) and summed, so results
 * can say how busy the generator was.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command, CpuResult, Reply } from './protocol.js';

const workerScript = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** BENCH_WORKER_FLAGS (e.g. "--cpu-prof") profiles the generator the way SORI_NODE_FLAGS profiles the server. */
const workerFlags = (process.env.BENCH_WORKER_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

/**
 * jemalloc for the workers, when installed (scripts/setup-bench.sh installs
 * Debian's libjemalloc2). A login costs the generator a TLS client handshake,
 * and glibc's malloc took ~10 % of the worker's core in OpenSSL's allocations;
 * with jemalloc the worker used ~10 % less CPU per login (the generator's core
 * then bounded the login storm). Servers keep their own allocator.
 */
export const generatorAllocator: string | null =
  [`/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libjemalloc.so.2`, '/usr/lib/libjemalloc.so.2'].find((file) => existsSync(file)) ?? null;

export class WorkerPool {
  private readonly workers: ChildProcess[] = [];
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 1;

  constructor(count: number, cpus: string) {
    for (let index = 0; index < count; index++) {
      const env = generatorAllocator ? { ...process.env, LD_PRELOAD: generatorAllocator } : process.env;
      const worker = fork(workerScript, [], { execArgv: [...workerFlags, '--import', 'tsx'], env, serialization: 'advanced', stdio: 'inherit' });
      if (cpus) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(worker.pid)], { stdio: 'ignore' });
      worker.on('message', (reply: Reply) => {
        const waiter = this.pending.get(reply.id);
        if (!waiter) return;
        this.pending.delete(reply.id);
        if (reply.ok) waiter.resolve(reply.result);
        else waiter.reject(new Error(reply.error));
      });
      worker.on('exit', (code) => {
        if (code !== 0 && code !== null) console.error(`generator worker ${worker.pid} exited with ${code}`);
      });
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  send<T>(workerIndex: number, command: Command): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.workers[workerIndex]!.send({ id, command });
    });
  }

  /** Same command (built per worker) on every worker, results in worker order. */
  all<T>(build: (workerIndex: number) => Command): Promise<T[]> {
    return Promise.all(this.workers.map((_, index) => this.send<T>(index, build(index))));
  }

  /** Split `items` over workers round-robin (item i goes to worker i % size). */
  split<T>(items: T[]): T[][] {
    const shares: T[][] = this.workers.map(() => []);
    items.forEach((item, index) => shares[index % shares.length]!.push(item));
    return shares;
  }

  /** CPU seconds all workers used since the previous call, and the busiest worker's event-loop utilization. */
  async cpuSince(): Promise<{ cpuSeconds: number; maxEventLoopUtilization: number }> {
    const readings = await this.all<CpuResult>(() => ({ kind: 'cpu' }));
    return {
      cpuSeconds: readings.reduce((sum, reading) => sum + (reading.userMicros + reading.systemMicros) / 1e6, 0),
      maxEventLoopUtilization: Math.max(...readings.map((reading) => reading.eventLoopUtilization)),
    };
  }

  close(): void {
    for (const worker of this.workers) worker.disconnect();
  }
}
