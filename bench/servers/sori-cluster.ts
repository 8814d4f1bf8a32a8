/**
 * Scenario 5: two sori nodes as one deployment, sharing a Redis session
 * table and a store. LevelDB is single-process, so the shared store is a
 * single-node Cassandra 5.0 (SORI_BENCH_CLUSTER_STORE=cassandra, the default)
 * or DynamoDB Local (=dynamodb; its SQLite-backed emulator, not a fast
 * store). Both nodes, Redis and the store are pinned to the server CPUs and
 * their CPU is summed as the server's. The runner sends account N to node N % 2, so
 * the two ends of every chat pair sit on different nodes and every message
 * crosses the node bus.
 *
 * On this 2-core machine everything of the deployment shares the one server
 * core: the figure is what clustering costs per core, not how it scales.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cassandraService } from '../../src/testing/services/cassandra.js';
import { dynamoLocalService } from '../../src/testing/services/dynamodb-local.js';
import { redisService } from '../../src/testing/services/redis.js';
import { stopAllServices, trackedPids } from '../../src/testing/services/child-process.js';
import {
  makeRunDirectory, stopProcess, waitForPort, waitForPortFree, writeSelfSignedCertificate,
  type LaunchOptions, type RunningServer, type ServerLauncher,
} from './common.js';
import { repositoryRoot, soriCommand, soriConfig } from './sori.js';

const NODES = 2;
/** Node i listens on c2sPort + i * PORT_STEP (and httpPort + i * PORT_STEP). */
const PORT_STEP = 10;

function processName(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

function pin(cpus: string, pid: number): void {
  if (cpus) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** The store both nodes share, started fresh (a new keyspace or table prefix per run). */
async function sharedStorage(kind: 'cassandra' | 'dynamodb'): Promise<{ name: string; config: Record<string, unknown> }> {
  const run = `bench${Date.now().toString(36)}`;
  if (kind === 'dynamodb') {
    const dynamo = await dynamoLocalService();
    return { name: 'DynamoDB Local', config: { backend: 'dynamodb', dynamodb: { endpoint: dynamo.endpoint, region: dynamo.region, credentials: dynamo.credentials, tablePrefix: `${run}_` } } };
  }
  const cassandra = await cassandraService();
  return { name: 'Cassandra', config: { backend: 'cassandra', cassandra: { contactPoints: cassandra.contactPoints, localDataCenter: cassandra.localDataCenter, keyspace: run } } };
}

export const soriClusterLauncher: ServerLauncher = {
  name: 'sori-cluster',
  scenarios: ['chat'],
  // The shared one-node store on the server core holds a few hundred msg/s (docs/performance.md, Archive).
  chatRates: { full: [50, 100, 200, 400, 800, 1600], quick: [50, 100, 200, 400] },
  async start(options: LaunchOptions): Promise<RunningServer> {
    const storeKind = process.env.SORI_BENCH_CLUSTER_STORE ?? 'cassandra';
    if (storeKind !== 'cassandra' && storeKind !== 'dynamodb') throw new Error(`SORI_BENCH_CLUSTER_STORE must be cassandra or dynamodb, not ${storeKind}`);
    const [redis, storage] = await Promise.all([redisService(), sharedStorage(storeKind)]);
    const services = trackedPids();
    for (const pid of services) pin(options.cpus, pid);
    const directory = makeRunDirectory('sori-cluster');
    const tls = writeSelfSignedCertificate(directory, options.domain);
    const children: ChildProcess[] = [];
    const nodes: { host: string; port: number }[] = [];
    const stop = async (): Promise<void> => {
      await Promise.all(children.flatMap((child) => (child.pid === undefined ? [] : [stopProcess(child.pid)])));
      await stopAllServices();
    };
    try {
      // One after the other: the first node creates the tables, the second finds them.
      for (let index = 0; index < NODES; index++) {
        const port = options.c2sPort + index * PORT_STEP;
        await waitForPortFree(port, options.host, 10_000);
        const config = soriConfig(path.join(directory, `node${index}`), { ...options, c2sPort: port, httpPort: options.httpPort + index * PORT_STEP }, tls);
        config.server = { ...config.server, nodeId: `bench-${index}` };
        config.storage = storage.config;
        config.cluster = { redis: [redis.url] };
        const configFile = path.join(directory, `node${index}.json`);
        writeFileSync(configFile, JSON.stringify(config, null, 2));
        const [command, ...args] = soriCommand(options.cpus, configFile);
        children.push(spawn(command!, args, { cwd: repositoryRoot, stdio: ['ignore', 'ignore', 'inherit'] }));
        await waitForPort(port, options.host, 60_000);
        nodes.push({ host: options.host, port });
      }
    } catch (error) {
      await stop();
      throw error;
    }
    const nodePids = children.map((child) => child.pid!);
    return {
      name: 'sori-cluster',
      pid: nodePids[0]!,
      cpuParts: [
        { label: 'sori nodes', pids: nodePids },
        { label: 'Redis', pids: services.filter((pid) => processName(pid) === 'redis-server') },
        { label: storage.name, pids: services.filter((pid) => processName(pid) !== 'redis-server') },
      ],
      domain: options.domain,
      host: options.host,
      c2sPort: options.c2sPort,
      nodes,
      webSocketUrl: undefined,
      provisioning: 'in-band',
      version: `sori (working tree), ${NODES} nodes, Redis, ${storage.name}`,
      stop,
    };
  },
};
