import { TestNodes, type RedisDeployment, type RedisTarget } from './redis-cluster-nodes.js';

/**
 * Nodes on `target` for the tests of the enclosing describe: its Redis is
 * started before them, and whatever nodes a test made are stopped after it.
 * `deployment()` is the started Redis (its ports, to restart it). Flushing
 * between tests is left to the caller, since a contract suite flushes through
 * its own reset.
 */
export function testNodesOn(target: RedisTarget): { nodes: TestNodes; deployment: () => RedisDeployment } {
  let started: RedisDeployment | undefined;
  const deployment = (): RedisDeployment => {
    if (started === undefined) throw new Error('Redis not started');
    return started;
  };
  const nodes = new TestNodes(deployment);
  before(async function () {
    started = await target.start();
  });
  afterEach(async function () {
    await nodes.stopAll();
  });
  return { nodes, deployment };
}
