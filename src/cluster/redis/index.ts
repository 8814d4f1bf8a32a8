import type { Logger } from '../../util/log.js';
import type { RedisClusterOptions } from './connection.js';
import { RedisNodeBus } from './node-bus.js';
import { RedisSessionTable } from './session-table.js';

export { redisClusterOptionSpecs, redisClusterOptions, type RedisClusterOptions } from './connection.js';
export { RedisNodeBus } from './node-bus.js';
export { RedisLoginThrottle } from './login-throttle.js';
export { RedisSessionTable } from './session-table.js';

export interface RedisClusterNode {
  sessions: RedisSessionTable;
  bus: RedisNodeBus;
}

/**
 * The session table and node bus of one node, wired so that the node that
 * claims a dead node also reclaims its inbox (handing it to the bus's orphan
 * handlers) before emitting node-dead. Register handlers, then call
 * `startRedisClusterNode`.
 */
export function createRedisClusterNode(config: { nodeId: string; redis?: Partial<RedisClusterOptions>; log?: Logger }): RedisClusterNode {
  const sessions = new RedisSessionTable(config);
  const bus = new RedisNodeBus(config);
  sessions.addDeadNodeReclaimer(async (deadNode) => {
    await bus.reclaim(deadNode);
  });
  return { sessions, bus };
}

/** The table first: its alive key must exist before other nodes can send to this one. */
export async function startRedisClusterNode(node: RedisClusterNode): Promise<void> {
  await node.sessions.start();
  await node.bus.start();
}

/** The bus first, so that its unread inbox is left for a survivor to reclaim when the table leaves. */
export async function stopRedisClusterNode(node: RedisClusterNode): Promise<void> {
  await node.bus.stop();
  await node.sessions.stop();
}
