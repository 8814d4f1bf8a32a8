import { Cluster, Command, Redis } from 'ioredis';
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
  sentinelName: { type: 'optional-string', doc: 'Ask the Redis Sentinels at `urls` (their credentials in the URLs) for the primary of this master name, instead of connecting to `urls` itself; redis://user:password@name gives the primary\'s credentials, else it gets the sentinels\'.' },
  aliveTtlMs: { type: 'number', default: 3000, min: 100, integer: true, doc: 'A node whose alive key is not refreshed for this long is declared dead.' },
  heartbeatMs: { type: 'number', default: 1000, min: 20, integer: true, doc: 'How often a node refreshes its alive key (well below aliveTtlMs).' },
  deadCheckMs: { type: 'number', default: 1000, min: 20, integer: true, doc: 'How often a node looks for dead nodes in the registry.' },
  claimTtlMs: { type: 'number', default: 30000, min: 1000, integer: true, doc: 'How long a survivor may take to clean up after a dead node before another one takes over.' },
  cacheSize: { type: 'number', default: 10000, min: 0, integer: true, doc: 'Accounts whose session list is cached on each node (0 disables the cache).' },
  waitMs: { type: 'number', default: 5000, min: 100, integer: true, doc: 'How long a command waits for Redis (connection down, or no answer) before it fails; once Redis has been unreachable this long, commands fail at once until it is back. Stanzas for other nodes then go where they would for an unavailable recipient (offline storage, or an error).' },
  inboxMaxLen: { type: 'number', default: 100000, min: 100, integer: true, doc: 'Approximate cap on stanzas queued for one node, unread or waiting for a client to acknowledge them (XEP-0198); older ones are dropped past it.' },
} as const;

export type RedisClusterOptions = OptionValues<typeof redisClusterOptionSpecs>;

/** Resolves partial options with defaults; throws ConfigError on bad values. */
export function redisClusterOptions(input?: Partial<RedisClusterOptions>): RedisClusterOptions {
  return resolveOptions(redisClusterOptionSpecs, input as Record<string, unknown> | undefined, 'cluster.redis');
}

/** What a command gets when Redis has been unreachable for longer than the connection's `waitMs`. */
export class RedisUnreachableError extends Error {
  constructor(name: string, ms: number) {
    super(`Redis unreachable for ${Math.round(ms)} ms (connection ${name})`);
    this.name = 'RedisUnreachableError';
  }
}

/**
 * How long commands may wait for one connection. While the connection is
 * down a command waits in ioredis's offline queue, and on a connection that
 * stopped answering (a paused or partitioned Redis keeps its TCP connection
 * open) it waits for a reply: each fails after `waitMs`. Once the connection
 * has been down for `waitMs`, commands fail at once instead of each waiting
 * in turn, until it is ready again.
 */
class CommandDeadline {
  private downSince: number | null = null;

  constructor(client: RedisClient, private readonly name: string, readonly waitMs: number) {
    client.on('ready', () => (this.downSince = null));
    client.on('close', () => (this.downSince ??= Date.now()));
  }

  /** True once the connection has been down for `waitMs`. */
  get unreachable(): boolean {
    return this.downSince !== null && Date.now() - this.downSince >= this.waitMs;
  }

  /** False (the command rejected) when it cannot wait; otherwise arms its timeout. */
  admit(command: Command): boolean {
    // The commands ioredis sends itself while connecting (ready check, name, database) must go through,
    // or the connection could never become ready again.
    if (this.unreachable && !Command.checkFlag('HANDSHAKE_COMMANDS', command.name)) {
      command.reject(new RedisUnreachableError(this.name, Date.now() - this.downSince!));
      return false;
    }
    command.setTimeout(this.waitMs);
    return true;
  }
}

const deadlines = new WeakMap<RedisClient, CommandDeadline>();

// Subclasses rather than ioredis's `commandTimeout`: that option reaches neither the commands a Redis
// Cluster client queues while it has no slot map, nor an unreachable connection's queue at once.
class BoundedRedis extends Redis {
  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    const deadline = deadlines.get(this);
    if (deadline !== undefined && !deadline.admit(command)) return command.promise;
    return super.sendCommand(command, stream);
  }
}

class BoundedCluster extends Cluster {
  override sendCommand(command: Command, stream?: Parameters<Cluster['sendCommand']>[1], node?: unknown): unknown {
    const deadline = deadlines.get(this);
    if (deadline !== undefined && !deadline.admit(command)) return command.promise;
    return super.sendCommand(command, stream, node);
  }
}

/**
 * Whether a command's error says the connection leads to a server that is no
 * longer the primary, and so must be made again. After a failover behind one
 * address (a DNS name or VIP; also Sentinel, in the moment before it cuts the
 * demoted primary's clients) connections made before it still lead to the old
 * primary, now a replica: writes get READONLY, and a blocked read is ended
 * with "UNBLOCKED force unblock from blocking operation, instance state
 * changed (master -> replica?)". A new connection resolves the address again
 * (or asks Sentinel), reaching the new primary.
 *
 * 2 (reconnect, then send the failed command again) rather than 1 (reconnect,
 * the command fails): either reply proves the command did nothing, since a
 * replica refuses a write, or a script's first write, before running it, so
 * sending it again applies it once. Commands sent behind it on the same
 * connection met the same replica, so are in the same case; ioredis sends them
 * again on the new connection as after any lost connection. The resent
 * command keeps the timer it was given when first sent (ioredis arms it once),
 * so it still fails after `waitMs`; and a node-bus send carries a deadline
 * Redis checks, so one that lands after its sender gave up appends nothing.
 * With 1, the stanza or login that happened to meet the failover would fail
 * as if Redis were down, for no reason a client could see.
 */
export function reconnectOnFailover(err: Error): 2 | false {
  if (err.message.startsWith('READONLY')) return 2;
  if (err.message.startsWith('UNBLOCKED') && err.message.includes('instance state changed')) return 2;
  return false;
}

interface Credentials {
  username?: string;
  password?: string;
}

function credentials(url: string): Credentials {
  const u = new URL(url);
  return { username: u.username ? decodeURIComponent(u.username) : undefined, password: u.password ? decodeURIComponent(u.password) : undefined };
}

/**
 * The master name of `sentinelName`, and the credentials of the primary and
 * replicas, given as `redis://[user:password@]mymaster` (redis-rb's and
 * Sidekiq's form): the sentinel URLs' credentials are the sentinels', as each
 * URL's are for the server it names. A bare name, or a URL without them, gives
 * the primary the sentinels' credentials too, as redis-rb does: one password
 * everywhere is the common deployment, and configurations written when the
 * first URL's credentials were the primary's keep working.
 */
function sentinelMaster(sentinelName: string, sentinelUrl?: string): Credentials & { name: string } {
  const fallback = sentinelUrl === undefined ? {} : credentials(sentinelUrl);
  if (!sentinelName.includes('://')) return { name: sentinelName, ...fallback };
  const own = credentials(sentinelName);
  const name = new URL(sentinelName).hostname;
  return own.username === undefined && own.password === undefined ? { name, ...fallback } : { name, ...own };
}

/**
 * A connection that reconnects forever: a node must outlive a Redis restart
 * or failover. Without `waitMs` its commands wait for Redis to come back; with
 * it they fail after that long (see CommandDeadline), and a connection that
 * has not answered a command for that long is dropped and made again.
 */
export function connectRedis(options: Pick<RedisClusterOptions, 'urls' | 'cluster'> & Partial<Pick<RedisClusterOptions, 'sentinelName'>>, name: string, limits: { waitMs?: number } = {}): RedisClient {
  const retryStrategy = (times: number): number => Math.min(50 * times, 1000);
  const socketTimeout = limits.waitMs;
  const common = { connectionName: name, maxRetriesPerRequest: null, socketTimeout, reconnectOnError: reconnectOnFailover };
  let client: RedisClient;
  if (options.sentinelName !== undefined) {
    if (options.cluster) throw new Error('cluster.redis: a Redis Cluster has no Sentinel; set either cluster or sentinelName');
    if (options.urls.length === 0) throw new Error('cluster.redis.urls: Sentinel needs the address of at least one sentinel');
    // One user and password for every sentinel (ioredis takes one set): those of the URLs that carry any.
    const sentinelUrl = options.urls.find((u) => credentials(u).password !== undefined || credentials(u).username !== undefined) ?? options.urls[0]!;
    const sentinels = credentials(sentinelUrl);
    const master = sentinelMaster(options.sentinelName, sentinelUrl);
    client = new BoundedRedis({
      ...common,
      sentinels: options.urls.map((u) => {
        const url = new URL(u);
        return { host: url.hostname, port: Number(url.port || 26379) };
      }),
      name: master.name,
      // Sentinel closes the old primary's clients only when it demotes it, some 10 s after naming the new one
      // (longer while it cannot reach it); meanwhile a node still on the old one would write where the nodes that
      // connected since do not read, and its alive key would lapse on the new one. So each connection listens for
      // Sentinel's +switch-master and connects again at once.
      failoverDetector: true,
      sentinelRetryStrategy: retryStrategy,
      retryStrategy,
      sentinelUsername: sentinels.username,
      sentinelPassword: sentinels.password,
      username: master.username,
      password: master.password,
    });
  } else if (!options.cluster) {
    if (options.urls.length !== 1) throw new Error('cluster.redis.urls: a standalone Redis takes exactly one URL');
    client = new BoundedRedis(options.urls[0]!, { ...common, retryStrategy });
  } else {
    const seeds = options.urls.map((u) => {
      const url = new URL(u);
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
    const first = new URL(options.urls[0]!);
    client = new BoundedCluster(seeds, {
      clusterRetryStrategy: retryStrategy,
      redisOptions: {
        connectionName: name,
        maxRetriesPerRequest: null,
        socketTimeout,
        username: first.username || undefined,
        password: first.password || undefined,
      },
    });
  }
  if (limits.waitMs !== undefined) deadlines.set(client, new CommandDeadline(client, name, limits.waitMs));
  return client;
}

/** True while `client` has been down for longer than its `waitMs`: its commands fail at once. */
export function redisUnreachable(client: RedisClient): boolean {
  return deadlines.get(client)?.unreachable ?? false;
}

/**
 * Calls `listener` each time a connection of `client` becomes ready, the first time included: for a Redis
 * Cluster client, each of its node connections (which reconnect on their own, without the client's `ready`).
 */
export function onConnectionReady(client: RedisClient, listener: () => void): void {
  if (client instanceof Cluster) client.on('+node', (node: Redis) => node.on('ready', listener));
  else client.on('ready', listener);
}

/** What starting a connection gets when Redis or Sentinel refuses its credentials. */
export class RedisAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisAuthError';
  }
}

// NOAUTH: none sent where one is required; WRONGPASS (Redis 6+ ACL) or "invalid password" (older): wrong ones.
const REFUSED_CREDENTIALS = /\b(NOAUTH|WRONGPASS)\b|invalid (username-)?password/;

/**
 * Resolves once the client is ready (it retries on its own until then).
 * Rejects, closing the client, when Redis or a sentinel refuses its
 * credentials: retrying cannot help, and a node would otherwise wait for ever
 * at start, saying only what ioredis logs.
 */
export function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      if (!REFUSED_CREDENTIALS.test(err.message)) return;
      client.off('ready', onReady);
      client.off('error', onError);
      client.disconnect();
      // ioredis reports a sentinel's refusal only inside "All sentinels are unreachable ... Last error: ...".
      const who = err.message.startsWith('All sentinels') ? 'Redis Sentinel refused the sentinels\' credentials (user:password in the cluster.redis URLs)' : 'Redis refused the credentials (user:password in the cluster.redis URL; with Sentinel, the primary\'s in cluster.redisSentinel, else the sentinels\')';
      reject(new RedisAuthError(`${who}: ${err.message}`));
    };
    const onReady = (): void => {
      client.off('error', onError);
      resolve();
    };
    client.once('ready', onReady);
    client.on('error', onError);
  });
}
