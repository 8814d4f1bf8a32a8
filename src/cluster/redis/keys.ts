/**
 * Redis key names of the cluster layer, in one place so that the session
 * table, the liveness protocol and the node bus agree on them.
 *
 * Every key carries a hash tag (`{...}`): in Redis Cluster only keys with the
 * same tag live in the same slot, and a script may touch several keys only
 * when they do. The tag is the bare JID for per-user keys and the node id for
 * per-node keys, so a script works on one user or one node, never across.
 */

const PREFIX = 'sori:';

/** Hash of resource → JSON SessionEntry for one account. */
export function sessionsKey(bareJid: string): string {
  return `${PREFIX}{${bareJid}}:sessions`;
}

/** Set of the full JIDs a node has put, read when the node is declared dead. */
export function nodeJidsKey(nodeId: string): string {
  return `${PREFIX}node:{${nodeId}}:jids`;
}

/** Set of the placement keys a node has claimed, read when the node is declared dead. */
export function nodePlacementsKey(nodeId: string): string {
  return `${PREFIX}node:{${nodeId}}:placements`;
}

/** The id of the node holding a placement key (SessionTable.claim). */
export function placementKey(key: string): string {
  return `${PREFIX}placement:{${key}}`;
}

/** Present while the node is alive; expires unless refreshed. */
export function nodeAliveKey(nodeId: string): string {
  return `${PREFIX}node:{${nodeId}}:alive`;
}

/** Held by the one survivor cleaning up after a dead node. */
export function nodeClaimKey(nodeId: string): string {
  return `${PREFIX}node:{${nodeId}}:claim`;
}

/** Stream of stanzas sent to a node by the other nodes. */
export function nodeInboxKey(nodeId: string): string {
  return `${PREFIX}node:{${nodeId}}:inbox`;
}

/** Set of all registered node ids (one key: liveness checks iterate it). */
export const NODES_KEY = `${PREFIX}nodes`;

/** Pub/sub channel carrying bare JIDs whose sessions changed. */
export const INVALIDATE_CHANNEL = `${PREFIX}invalidate`;

/** Sorted set of one throttle key's recent failed logins (an account or an address), scored by time. */
export function loginFailuresKey(throttleKey: string): string {
  return `${PREFIX}login-failures:{${throttleKey}}`;
}
