/**
 * Real Redis for tests: a standalone server and a three-master Redis Cluster,
 * each started once per mocha run (and servers and sentinels of one test's
 * own, started per test) on free loopback ports, without
 * persistence, data under os.tmpdir(), killed with the run. Requires the
 * Debian package redis-server (scripts/setup-redis.sh installs it).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, removeOnExit, spawnTracked, tcpReady, waitUntilReady, type StartedChild } from './child-process.js';

const run = promisify(execFile);

export interface RedisService {
  port: number;
  url: string;
}

export interface RedisClusterService {
  ports: number[];
  urls: string[];
}

const servers = new Map<number, { started: StartedChild; args: string[] }>();

async function requireBinaries(): Promise<void> {
  for (const bin of ['redis-server', 'redis-cli']) {
    try {
      await run(bin, ['--version']);
    } catch {
      throw new Error(`${bin} not found: run scripts/setup-redis.sh (installs the Debian package redis-server)`);
    }
  }
}

async function launch(port: number, args: string[]): Promise<void> {
  const started = spawnTracked('redis-server', args, {});
  servers.set(port, { started, args });
  await waitUntilReady(`redis-server on port ${port}`, started, tcpReady(port), 20_000);
}

async function startServer(extraArgs: string[], port: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `sori-redis-${port}-`));
  removeOnExit(dir);
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
  await launch(port, args);
}

/** A port that is free, and whose +10000 cluster-bus port is free too. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10000 > 65535) continue;
    const probe = await tcpReady(port + 10000)();
    if (!probe) return port;
  }
}

let standalone: Promise<RedisService> | undefined;

/** Starts a standalone redis-server on first call; later calls share it. */
export function redisService(): Promise<RedisService> {
  standalone ??= (async () => {
    await requireBinaries();
    const port = await freePort();
    await startServer([], port);
    return { port, url: `redis://127.0.0.1:${port}` };
  })().catch((err: unknown) => {
    standalone = undefined;
    throw err;
  });
  return standalone;
}

async function clusterState(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
  return /cluster_state:(\w+)/.exec(stdout)?.[1] ?? 'unknown';
}

let cluster: Promise<RedisClusterService> | undefined;

/** Starts three cluster-enabled masters and joins them, on first call; later calls share the cluster. */
export function redisClusterService(): Promise<RedisClusterService> {
  cluster ??= (async () => {
    await requireBinaries();
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push(await freeClusterPort());
    await Promise.all(ports.map((port) => startServer(
      ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
      port,
    )));
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(ports.map(clusterState));
      if (states.every((s) => s === 'ok')) break;
      if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok (${states.join(', ')})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`) };
  })().catch((err: unknown) => {
    cluster = undefined;
    throw err;
  });
  return cluster;
}

/**
 * Kills the redis-server on `port` (SIGKILL, like a crash: its data is lost
 * since persistence is off) and starts it again on the same port.
 */
export async function restartRedis(port: number): Promise<void> {
  const server = servers.get(port);
  if (server === undefined) throw new Error(`no redis-server started by the tests on port ${port}`);
  const { child } = server.started;
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
  await launch(port, server.args);
}

/** Deletes every key on the given servers (each master of a cluster), so that tests do not see each other's nodes. */
export async function flushRedis(ports: readonly number[]): Promise<void> {
  await Promise.all(ports.map((port) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'flushall'])));
}

/** A standalone redis-server of one test's own, which it may pause, kill and start again without disturbing others. */
export interface PrivateRedis extends RedisService {
  /** SIGSTOP: connections stay open and nothing answers, as when Redis hangs or the network drops packets. */
  pause(): void;
  /** SIGCONT after `pause`: Redis answers again, its data intact. */
  resume(): void;
  /** SIGKILL: connections are refused until `start`; the data is gone (no persistence). */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Kills it for good (after the test). */
  stop(): Promise<void>;
}

export async function privateRedis(): Promise<PrivateRedis> {
  await requireBinaries();
  const port = await freePort();
  await startServer([], port);
  const child = () => servers.get(port)!.started.child;
  const kill = async (): Promise<void> => {
    const c = child();
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    });
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pause: () => void child().kill('SIGSTOP'),
    resume: () => void child().kill('SIGCONT'),
    kill,
    start: () => launch(port, servers.get(port)!.args),
    stop: async () => {
      await kill();
      servers.delete(port);
    },
  };
}

/** A Redis Sentinel of one test's own, monitoring the primary on `masterPort` as `name`, quorum 1 (so it may fail over alone). */
export interface PrivateSentinel {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export async function privateSentinel(name: string, masterPort: number): Promise<PrivateSentinel> {
  await requireBinaries();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sori-sentinel-${port}-`));
  removeOnExit(dir);
  // Sentinel rewrites its configuration file as it learns the deployment, so it needs one of its own.
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 5000`,
    `sentinel failover-timeout ${name} 10000`,
    '',
  ].join('\n'));
  const started = spawnTracked('redis-server', [conf, '--sentinel'], {});
  await waitUntilReady(`redis sentinel on port ${port}`, started, tcpReady(port), 20_000);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      const { child } = started;
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };
}

/** Runs one redis-cli command against 127.0.0.1:`port`; its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}
