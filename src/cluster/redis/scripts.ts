import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.js';

/**
 * A Lua script run by its SHA, loaded on first use and again after a Redis
 * restart (which empties the script cache). All keys a script touches are
 * passed in KEYS and share one hash tag, so scripts are valid in Redis Cluster.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(readonly name: string, private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Deletes one resource of a sessions hash if its entry is held by ARGV[2].
 * KEYS[1] sessions hash; ARGV[1] resource, ARGV[2] node id.
 * Returns the removed entry's JSON, or false when absent or owned elsewhere.
 */
export const removeIfOwner = new LuaScript(
  'removeIfOwner',
  `local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
if cjson.decode(v).node ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return v`,
);

/**
 * Writes an entry unless another node holds that resource now: used when a
 * node restores its own entries after reconnecting, so it never overwrites a
 * newer login elsewhere. KEYS[1] sessions hash; ARGV[1] resource, ARGV[2]
 * entry JSON, ARGV[3] node id. Returns 1 when written.
 */
export const restoreIfVacant = new LuaScript(
  'restoreIfVacant',
  `local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v).node ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`,
);

/**
 * Makes ARGV[1] the holder of a placement key unless one is set; returns the
 * holder. KEYS[1] placement key; ARGV[1] node id.
 */
export const claimPlacement = new LuaScript(
  'claimPlacement',
  `local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`,
);

/** Deletes a placement key if ARGV[1] holds it. KEYS[1] placement key. Returns 1 when deleted. */
export const releasePlacement = new LuaScript(
  'releasePlacement',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
);

/** Results of the heartbeat script. */
export const HEARTBEAT_REFUSED = 0;
export const HEARTBEAT_REFRESHED = 1;
export const HEARTBEAT_CREATED = 2;
/** The alive key had lapsed and a survivor had cleaned up after the node (its claim was done): the node was declared dead. */
export const HEARTBEAT_RECLAIMED = 3;

/** Value of a claim key once the cleanup is finished (kept a while so a late checker cannot claim again). */
export const CLAIM_DONE = 'done';

/**
 * Refreshes a node's alive key unless a survivor is cleaning up after it.
 * KEYS[1] alive, KEYS[2] claim; ARGV[1] TTL in ms.
 * Returns 0 while claimed, 1 when the key existed, 2 when it had lapsed, 3 when it had lapsed and a survivor
 * had cleaned up after the node (its claim marked done).
 */
export const heartbeat = new LuaScript(
  'heartbeat',
  `local claim = redis.call('GET', KEYS[2])
if claim and claim ~= '${CLAIM_DONE}' then return 0 end
if claim then redis.call('DEL', KEYS[2]) end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
if existed == 1 then return 1 end
if claim then return 3 end
return 2`,
);

/**
 * Claims a node whose alive key lapsed; only one caller can win, and nobody
 * while a finished claim is still marked done.
 * KEYS[1] alive, KEYS[2] claim; ARGV[1] claimer id, ARGV[2] claim TTL in ms.
 * Returns 1 to the winner.
 */
export const claimIfDead = new LuaScript(
  'claimIfDead',
  `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`,
);

/**
 * Appends to a node's inbox only while the node is alive, so nothing is
 * queued for a node nobody will read or reclaim. KEYS[1] alive, KEYS[2]
 * inbox; ARGV[1] max length (approximate), ARGV[2] sender, ARGV[3] payload,
 * ARGV[4] deadline (ms since the epoch, by Redis's clock): a send that ran
 * after it (queued while Redis was away) appends nothing.
 * Returns the entry id, or false when the node is not alive or the deadline passed.
 */
export const sendIfAlive = new LuaScript(
  'sendIfAlive',
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'from', ARGV[2], 'p', ARGV[3])`,
);

/** Acknowledges and deletes handled inbox entries: the stream holds only what is not yet handled. */
export const ackAndDelete = new LuaScript(
  'ackAndDelete',
  `redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))`,
);

/**
 * Writes a session entry and returns the one it replaced (false when none), in one step.
 * KEYS[1] account hash; ARGV[1] resource, ARGV[2] entry JSON.
 */
export const bindEntry = new LuaScript(
  'bindEntry',
  `local v = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return v`,
);

/**
 * Rewrites a session entry only while node ARGV[3] holds it; 1 when written.
 * KEYS[1] account hash; ARGV[1] resource, ARGV[2] entry JSON, ARGV[3] node id.
 */
export const updateIfHeld = new LuaScript(
  'updateIfHeld',
  `local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or cjson.decode(v).node ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`,
);

