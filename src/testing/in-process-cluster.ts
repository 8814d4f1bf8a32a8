/**
 * Test support: sori nodes in one process, clustered over a real Redis with
 * fast liveness (a dead node is noticed within about 1.5 s), sharing one
 * in-memory store as nodes share a database. For tests of modules whose
 * state spans nodes (MUC rooms, components).
 */
import { ClusterLocator } from '../cluster/cluster-locator.js';
import { createRedisClusterNode, startRedisClusterNode, stopRedisClusterNode, type RedisClusterNode } from '../cluster/redis/index.js';
import { redisNodeOptions } from '../sori.js';
import { MemoryStore } from '../storage/memory/index.js';
import type { OptionSpecs } from '../util/options.js';
import type { ModuleDefinition } from '../xmpp/module.js';
import { TestServer } from './harness.js';
import { redisTargets, type RedisDeployment } from './redis-cluster-nodes.js';
import { flushRedis } from './services/redis.js';

export interface ClusterTestNode {
  ts: TestServer;
  cluster: RedisClusterNode;
  locator: ClusterLocator;
  crashed: boolean;
}

export class InProcessCluster {
  readonly nodes: ClusterTestNode[] = [];
  store = new MemoryStore();

  /** `cluster` adds to every node's cluster section (e.g. `redisWaitSeconds`). */
  constructor(private readonly deployment: () => RedisDeployment, private readonly clusterOptions: Record<string, unknown> = {}) {}

  /** Empties Redis and the store; call before each test. */
  async reset(): Promise<void> {
    await flushRedis(this.deployment().ports);
    this.store = new MemoryStore();
  }

  async start(nodeId: string, modules: readonly ModuleDefinition<OptionSpecs>[], moduleOptions: Record<string, unknown> = {}, server: Record<string, unknown> = {}): Promise<ClusterTestNode> {
    const deployment = this.deployment();
    let cluster!: RedisClusterNode;
    let locator!: ClusterLocator;
    const overrides = { server: { nodeId, logLevel: 'warn', ...server }, cluster: { redis: deployment.urls, redisCluster: deployment.cluster, livenessSeconds: 1.5, ...this.clusterOptions }, modules: { options: moduleOptions } };
    const ts = await TestServer.start(modules, overrides, this.store, (s) => {
      cluster = createRedisClusterNode({ nodeId: s.nodeId, redis: redisNodeOptions(s.config) });
      locator = new ClusterLocator(s, cluster.sessions, cluster.bus);
      return locator;
    });
    await startRedisClusterNode(cluster);
    const node = { ts, cluster, locator, crashed: false };
    this.nodes.push(node);
    return node;
  }

  /** The node stops reading its inbox and refreshing its alive key, as if its process had died. */
  async crash(node: ClusterTestNode): Promise<void> {
    node.crashed = true;
    await node.cluster.bus.stop();
    await node.cluster.sessions.liveness.stop(false);
  }

  /** A graceful stop of one node, as on SIGTERM: its sessions close, it leaves the cluster, its modules stop. */
  async stop(node: ClusterTestNode): Promise<void> {
    const index = this.nodes.indexOf(node);
    if (index < 0) return;
    this.nodes.splice(index, 1);
    if (!node.crashed) await node.locator.closeSessions('test over');
    // Modules first: what they still send on the way out needs Redis.
    await node.ts.stop();
    await stopRedisClusterNode(node.cluster);
  }

  async stopAll(): Promise<void> {
    for (const n of [...this.nodes]) await this.stop(n);
  }
}

/**
 * A mocha suite's in-process cluster on the standalone Redis target: Redis
 * started once for the suite, Redis and the store emptied before each test,
 * every node stopped after it. Call at the top of a `describe`.
 */
export function inProcessClusterSuite(clusterOptions: Record<string, unknown> = {}): { cluster: InProcessCluster; deployment: () => RedisDeployment } {
  let deployment: RedisDeployment | undefined;
  const cluster = new InProcessCluster(() => deployment!, clusterOptions);
  before(async () => {
    deployment = await redisTargets[0]!.start();
  });
  beforeEach(() => cluster.reset());
  afterEach(() => cluster.stopAll());
  return { cluster, deployment: () => deployment! };
}
