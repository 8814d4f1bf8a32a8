/**
 * Test support for the Redis cluster layer: the two Redis deployments the
 * tests run against, and a tracker creating nodes with fast liveness timings
 * (a dead node is noticed within about 1.5 s, yet a busy test process is not mistaken for a dead one) and stopping them after each test.
 */
import { connectRedis, type RedisClient, type RedisClusterOptions } from '../cluster/redis/connection.js';
import { createRedisClusterNode, startRedisClusterNode, stopRedisClusterNode, type RedisClusterNode } from '../cluster/redis/index.js';
import { RedisNodeBus } from '../cluster/redis/node-bus.js';
import { RedisSessionTable } from '../cluster/redis/session-table.js';
import type { Logger } from '../util/log.js';
import { flushRedis, redisClusterService, redisService } from './services/redis.js';

export interface RedisDeployment {
  urls: string[];
  cluster: boolean;
  ports: number[];
}

export interface RedisTarget {
  name: string;
  start(): Promise<RedisDeployment>;
}

export const redisTargets: readonly RedisTarget[] = [
  {
    name: 'standalone Redis',
    async start() {
      const r = await redisService();
      return { urls: [r.url], cluster: false, ports: [r.port] };
    },
  },
  {
    name: 'Redis Cluster',
    async start() {
      const c = await redisClusterService();
      return { urls: c.urls, cluster: true, ports: c.ports };
    },
  },
];

export const FAST_LIVENESS = { aliveTtlMs: 1500, heartbeatMs: 100, deadCheckMs: 100, claimTtlMs: 5000 } as const;

export class TestNodes {
  private readonly stoppers: Array<() => Promise<void>> = [];

  constructor(private readonly deployment: () => RedisDeployment) {}

  get options(): Partial<RedisClusterOptions> {
    const d = this.deployment();
    return { urls: d.urls, cluster: d.cluster, ...FAST_LIVENESS };
  }

  async table(nodeId: string): Promise<RedisSessionTable> {
    const table = new RedisSessionTable({ nodeId, redis: this.options });
    this.stoppers.push(() => table.stop());
    await table.start();
    return table;
  }

  /** A bus not yet started, so the test can register handlers first; `log` to look at what it logs. */
  bus(nodeId: string, log?: Logger): RedisNodeBus {
    const bus = new RedisNodeBus({ nodeId, redis: this.options, blockMs: 500, log });
    this.stoppers.push(() => bus.stop());
    return bus;
  }

  /** Table and bus wired together, not yet started. */
  node(nodeId: string): RedisClusterNode & { start(): Promise<void> } {
    const node = createRedisClusterNode({ nodeId, redis: this.options });
    this.stoppers.push(() => stopRedisClusterNode(node));
    return { ...node, start: () => startRedisClusterNode(node) };
  }

  /** A plain client for looking at keys directly. */
  probe(): RedisClient {
    const client = connectRedis(this.options as RedisClusterOptions, 'test-probe');
    this.stoppers.push(async () => client.disconnect());
    return client;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.stoppers.splice(0).reverse().map((stop) => stop()));
  }

  async flush(): Promise<void> {
    await flushRedis(this.deployment().ports);
  }
}
