import { mkdirSync } from 'node:fs';
import type { Config } from './config.js';
import { dataPath } from './config.js';
import { createStore, type StorageConfig } from './storage/index.js';
import type { WideColumnStore } from './storage/wide-column.js';
import { registerStoreMetrics } from './metrics/storage.js';
import { CoalescingStore } from './storage/coalescing.js';
import { createLogger, setLogFormat, setLogLevel, type LogFormat, type LogLevel, type Logger } from './util/log.js';
import { ConfigError, type OptionSpecs } from './util/options.js';
import type { ModuleDefinition } from './xmpp/module.js';
import { ALL_MODULES } from './xmpp/modules/index.js';
import { Server } from './xmpp/server.js';
import { loadCredentials } from './xmpp/transport/certificate.js';
import { listen, type Listening } from './xmpp/transport/listeners.js';
import { startS2s, type S2sService } from './xmpp/s2s/index.js';
import { listenControl } from './control.js';
import { reportWhileWaiting } from './util/while-waiting.js';
import { ClusterLocator } from './cluster/cluster-locator.js';
import type { RedisClusterNode, RedisLoginThrottle } from './cluster/redis/index.js';

/** Maps the storage section of the config onto a backend configuration. */
export function storageConfig(config: Config): StorageConfig {
  const s = config.storage;
  switch (s.backend) {
    case 'memory':
      return { backend: 'memory' };
    case 'dynamodb':
      return { backend: 'dynamodb', ...(s.dynamodb as Omit<Extract<StorageConfig, { backend: 'dynamodb' }>, 'backend'>) };
    case 'cassandra':
      return { backend: 'cassandra', ...(s.cassandra as Omit<Extract<StorageConfig, { backend: 'cassandra' }>, 'backend'>) };
    default: {
      const path = s.path ?? dataPath(config, 'db');
      mkdirSync(path, { recursive: true });
      return { backend: 'leveldb', path, cacheBytes: s.cacheMiB * 1024 * 1024 };
    }
  }
}

/** The modules this configuration loads: defaults, minus disabled, plus enabled. */
export function selectModules(config: Config, available: readonly ModuleDefinition<OptionSpecs>[] = ALL_MODULES): ModuleDefinition<OptionSpecs>[] {
  const known = new Set(available.map((m) => m.name));
  for (const name of [...config.modules.enabled, ...config.modules.disabled]) {
    if (!known.has(name)) throw new ConfigError(`modules: unknown module '${name}' (known: ${[...known].join(', ')})`);
  }
  for (const name of Object.keys(config.modules.options)) {
    if (!known.has(name)) throw new ConfigError(`modules.options.${name}: unknown module`);
  }
  const disabled = new Set(config.modules.disabled);
  const enabled = new Set(config.modules.enabled);
  let selected = available.filter((m) => !disabled.has(m.name) && (m.defaultEnabled !== false || enabled.has(m.name)));
  // A default module built on one the operator turned off goes with it (disabling muc takes its
  // occupant ids and moderation along); one they enabled by name stays, and the loader says what it lacks.
  for (;;) {
    const names = new Set(selected.map((m) => m.name));
    const next = selected.filter((m) => enabled.has(m.name) || (m.depends ?? []).every((d) => names.has(d) || !disabled.has(d)));
    if (next.length === selected.length) return selected;
    selected = next;
  }
}

export interface Sori {
  server: Server;
  store: WideColumnStore;
  listening: Listening;
  log: Logger;
  /** Set in cluster mode (`cluster.redis` non-empty). */
  cluster: { node: RedisClusterNode; locator: ClusterLocator } | null;
  /** Federation, when `s2s.enabled`. */
  s2s: S2sService | null;
  /**
   * Reads the certificate and key again (tls.cert/tls.key, or the self-signed
   * pair) and uses them for every connection from now on; throws, keeping
   * the old ones, when they cannot be read or do not match. main.ts calls it
   * on SIGHUP.
   */
  reloadTls(): Promise<void>;
  stop(reason?: string): Promise<void>;
}

/** The Redis options of a node: liveness window from `cluster.livenessSeconds`, heartbeat and dead-node checks three times within it. */
export function redisNodeOptions(config: Config): { urls: string[]; cluster: boolean; sentinelName: string | undefined; aliveTtlMs: number; heartbeatMs: number; deadCheckMs: number; waitMs: number } {
  const aliveTtlMs = Math.round(config.cluster.livenessSeconds * 1000);
  const tick = Math.max(20, Math.floor(aliveTtlMs / 3));
  const waitMs = Math.round(config.cluster.redisWaitSeconds * 1000);
  return { urls: [...config.cluster.redis], cluster: config.cluster.redisCluster, sentinelName: config.cluster.redisSentinel, aliveTtlMs, heartbeatMs: tick, deadCheckMs: tick, waitMs };
}

/** config → storage → server → modules → listeners. */
export async function startSori(config: Config, opts: { ephemeralPorts?: boolean; store?: WideColumnStore } = {}): Promise<Sori> {
  setLogLevel(config.server.logLevel as LogLevel);
  setLogFormat(config.server.logFormat as LogFormat);
  const log = createLogger('sori');
  const modules = selectModules(config);
  // Archive rows of many messages share one backend batch (see CoalescingStore).
  const store = opts.store ?? new CoalescingStore(await createStore(storageConfig(config)), {
    maxDelayMs: config.storage.batchDelayMs,
    minIntervalMs: config.storage.batchIntervalMs,
  });
  let cluster: Sori['cluster'] = null;
  // ioredis is loaded only for a cluster: a single node does not carry it.
  const redis = config.cluster.redis.length === 0 ? null : await import('./cluster/redis/index.js');
  const locator = redis === null ? undefined : (s: Server): ClusterLocator => {
    const node = redis.createRedisClusterNode({ nodeId: s.nodeId, redis: redisNodeOptions(config), log: log.child('cluster') });
    cluster = { node, locator: new ClusterLocator(s, node.sessions, node.bus, log.child('cluster')) };
    return cluster.locator;
  };
  let loginThrottle: RedisLoginThrottle | null = null;
  const loginFailures = redis === null ? undefined : (s: Server): RedisLoginThrottle => {
    loginThrottle = new redis.RedisLoginThrottle({ nodeId: s.nodeId, redis: redisNodeOptions(config), maxFailures: config.c2s.maxLoginFailures, windowMs: config.c2s.loginThrottleSeconds * 1000, log: log.child('cluster') });
    return loginThrottle;
  };
  const server = new Server({ config, store, modules, log, locator, loginFailures });
  if (store instanceof CoalescingStore) registerStoreMetrics(server.metrics, store);
  await server.start();
  // Before joining a cluster: generating a certificate blocks the event loop longer than a liveness window.
  const credentialFiles = { cert: config.tls.cert, key: config.tls.key, dir: dataPath(config, 'certs'), hosts: server.hosts, log, baseDir: config.configDir };
  const tls = await loadCredentials(credentialFiles);
  const reloadTls = async (): Promise<void> => {
    tls.replace(await loadCredentials(credentialFiles));
    log.info('TLS certificate reloaded: new connections get it, open ones keep theirs');
  };
  // After the modules, so that a dead predecessor's sessions (node-dead at start) find the presence module.
  if (cluster !== null && redis !== null) {
    const waiting = (ms: number): void => log.warn(`Redis at ${config.cluster.redis.join(', ')} (cluster.redis) has not answered for ${Math.round(ms / 1000)} s: this node serves nothing until it does`);
    await reportWhileWaiting(redis.startRedisClusterNode((cluster as NonNullable<Sori['cluster']>).node), waiting, 3_000, 30_000);
  }
  const listening = await listen(server, tls, { ephemeral: opts.ephemeralPorts });
  const s2s = await startS2s(server, tls, { ephemeral: opts.ephemeralPorts });
  const control = listenControl(server, dataPath(config, 'sori.sock'));
  const clustered = cluster as Sori['cluster'];
  log.info(`sori serving ${server.hosts.join(', ')} as node ${server.nodeId} with ${server.moduleNames().length} modules on ${store.name}${clustered ? ` in a cluster on ${config.cluster.redis.join(', ')}` : ''}`);
  let stopping: Promise<void> | null = null;
  const stop = (reason = 'server shutting down'): Promise<void> => {
    stopping ??= (async () => {
      await server.beginDrain(config.cluster.seeOtherHost);
      const graceMs = config.server.shutdownGraceSeconds * 1000;
      if (graceMs > 0) {
        log.info(`draining for ${config.server.shutdownGraceSeconds} s before closing ${server.sessionCount()} sessions`);
        await new Promise((resolve) => setTimeout(resolve, graceMs));
      }
      if (clustered !== null) {
        // Entries removed and unavailable presence sent while the bus still reads; what is left
        // in the inbox after the bus stops is reclaimed by a surviving node as offline delivery.
        await clustered.locator.closeSessions(reason);
      } else server.endSessionsForShutdown(reason);
      await s2s?.stop();
      await listening.close();
      control.close();
      if (clustered !== null && redis !== null) await redis.stopRedisClusterNode(clustered.node);
      (loginThrottle as RedisLoginThrottle | null)?.close();
      await server.stop();
      if (opts.store === undefined) await store.close();
    })();
    return stopping;
  };
  return { server, store, listening, log, cluster: clustered, s2s, reloadTls, stop };
}
