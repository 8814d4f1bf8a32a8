import { Cluster, Redis } from 'ioredis';
import { resolveOptions, type OptionValues } from '../../util/options.js';

/** Either a standalone Redis connection or a Redis Cluster client; both take the same commands. */
export type RedisClient = Redis | Cluster;

/** Options of `cluster.redis` in the configuration. */
export const redisClusterOptionSpecs = {
  urls: {
    type: 'string[]',
    default: ['redis://127.0.0.1:6379'],
    doc: 'Redis URL, or the seed nodes of a Redis Cluster (redis://[user:password@]host:port).',
  },
  cluster: { type: 'boolean', default: false, doc: 'Connect to a Redis Cluster instead of a standalone server.' },
  aliveTtlMs: { type: 'number', default: 3000, min: 100, integer: true, doc: 'A node whose alive key is not refreshed for this long is declared dead.' },
  heartbeatMs: { type: 'number', default: 1000, min: 20, integer: true, doc: 'How often a node refreshes its alive key (well below aliveTtlMs).' },
  deadCheckMs: { type: 'number', default: 1000, min: 20, integer: true, doc: 'How often a node looks for dead nodes in the registry.' },
  claimTtlMs: { type: 'number', default: 30000, min: 1000, integer: true, doc: 'How long a survivor may take to clean up after a dead node before another one takes over.' },
  cacheSize: { type: 'number', default: 10000, min: 0, integer: true, doc: 'Accounts whose session list is cached on each node (0 disables the cache).' },
  inboxMaxLen: { type: 'number', default: 100000, min: 100, integer: true, doc: 'Approximate cap on stanzas queued for one node, unread or waiting for a client to acknowledge them (XEP-0198); older ones are dropped past it.' },
} as const;

export type RedisClusterOptions = OptionValues<typeof redisClusterOptionSpecs>;

/** Resolves partial options with defaults; throws ConfigError on bad values. */
export function redisClusterOptions(input?: Partial<RedisClusterOptions>): RedisClusterOptions {
  return resolveOptions(redisClusterOptionSpecs, input as Record<string, unknown> | undefined, 'cluster.redis');
}

/**
 * A connection that retries forever: a node must outlive a Redis restart.
 * Its commands wait for Redis to come back, unless `commandTimeoutMs` makes
 * them fail after that long (for callers that can decide without Redis).
 */
export function connectRedis(options: Pick<RedisClusterOptions, 'urls' | 'cluster'>, name: string, limits: { commandTimeoutMs?: number } = {}): RedisClient {
  const retryStrategy = (times: number): number => Math.min(50 * times, 1000);
  const commandTimeout = limits.commandTimeoutMs;
  if (!options.cluster) {
    if (options.urls.length !== 1) throw new Error('cluster.redis.urls: a standalone Redis takes exactly one URL');
    return new Redis(options.urls[0]!, { connectionName: name, retryStrategy, maxRetriesPerRequest: null, commandTimeout });
  }
  const seeds = options.urls.map((u) => {
    const url = new URL(u);
    return { host: url.hostname, port: Number(url.port || 6379) };
  });
  const first = new URL(options.urls[0]!);
  return new Cluster(seeds, {
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      connectionName: name,
      maxRetriesPerRequest: null,
      commandTimeout,
      username: first.username || undefined,
      password: first.password || undefined,
    },
  });
}

/** Resolves once the client is ready (it retries on its own until then). */
export function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}
