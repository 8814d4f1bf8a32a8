/**
 * Cluster routing benchmark (not a test): chat messages between two sessions
 * on the same node and on two different nodes sharing Redis, driven through
 * the real inbound path (`processClientElement`), router, ClusterLocator,
 * session table (with its cache) and node bus. Nodes run in this process on
 * one MemoryStore with the roster and presence modules only, so the numbers
 * are the cost of routing, not of archiving or storage.
 *
 * Reported per case: messages/s with `--pairs` sender/receiver pairs sending
 * at once (each sender waits for its previous message to be routed, as a c2s
 * stream does), p50/p99
 * delivery latency (send → written to the recipient's connection), Redis
 * round trips and commands per routed message (from INFO commandstats; round
 * trips leave out the commands run inside sori's scripts; minus the
 * background rate of heartbeats and dead-node checks measured while idle), and the session-table
 * cache hits/misses of the sending node.
 *
 *   npx tsx bench/cluster.ts [--messages 20000] [--pairs 16] [--redis-cluster]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { ClusterLocator } from '../src/cluster/cluster-locator.js';
import { createRedisClusterNode, startRedisClusterNode, stopRedisClusterNode, type RedisClusterNode } from '../src/cluster/redis/index.js';
import { redisNodeOptions } from '../src/sori.js';
import { MemoryStore } from '../src/storage/memory/index.js';
import { parseJid } from '../src/util/jid.js';
import { createLogger, setLogLevel } from '../src/util/log.js';
import { x, type XmlElement } from '../src/util/xml.js';
import presence from '../src/xmpp/modules/rfc6121-presence/index.js';
import roster from '../src/xmpp/modules/rfc6121-roster/index.js';
import { Server } from '../src/xmpp/server.js';
import { C2sSession, type SessionConnection } from '../src/xmpp/stream/client-session.js';
import { processClientElement } from '../src/xmpp/stream/inbound.js';
import { redisClusterService, redisService } from '../src/testing/services/redis.js';
import { stopAllServices } from '../src/testing/services/child-process.js';
import { summarize, formatMs } from './stats.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    pairs: { type: 'string', default: '16' },
    'redis-cluster': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const PAIRS = Number(values.pairs);
const useCluster = values['redis-cluster'] === true;

setLogLevel('warn');

/** A connection that timestamps every message written to it. */
class Sink implements SessionConnection {
  readonly transportKind = 'tcp' as const;
  readonly secure = true;
  readonly remoteAddress = '127.0.0.1';
  onMessage: (el: XmlElement) => void = () => {};
  session: C2sSession | null = null;
  writeElement(el: XmlElement): void {
    if (el.name === 'message') this.onMessage(el);
  }
  closeWithError(): void {
    void this.session?.finish(null, false);
  }
}

interface BenchNode {
  server: Server;
  node: RedisClusterNode;
  locator: ClusterLocator;
}

async function startNode(id: string, store: MemoryStore, urls: string[]): Promise<BenchNode> {
  const config = loadConfig({ env: {}, overrides: { storage: { backend: 'memory' }, server: { nodeId: id, logLevel: 'warn' }, cluster: { redis: urls, redisCluster: useCluster, livenessSeconds: 5 } } });
  let made: { node: RedisClusterNode; locator: ClusterLocator } | undefined;
  const server = new Server({
    config,
    store,
    modules: [roster, presence],
    log: createLogger(id),
    locator: (s) => {
      const node = createRedisClusterNode({ nodeId: s.nodeId, redis: redisNodeOptions(config) });
      made = { node, locator: new ClusterLocator(s, node.sessions, node.bus) };
      return made.locator;
    },
  });
  await server.start();
  await startRedisClusterNode(made!.node);
  return { server, ...made! };
}

async function bind(n: BenchNode, full: string): Promise<{ session: C2sSession; sink: Sink }> {
  const jid = parseJid(full);
  await n.server.accounts.create(jid.toBare(), 'secret');
  const sink = new Sink();
  const session = new C2sSession(n.server, jid, sink);
  sink.session = session;
  n.server.sessions.add(session);
  await n.server.hooks.fireAsync('session/bound', { session });
  await processClientElement(n.server, session, x('presence', { xmlns: 'jabber:client' }));
  return { session, sink };
}

/** Commands run inside sori's Lua scripts (sendIfAlive: EXISTS, XADD; ackAndDelete: XACK, XDEL), not round trips of their own. */
const SCRIPT_INNER = ['exists', 'xadd', 'xack', 'xdel'];

/** Commands processed by every Redis server of the deployment: all of them, and those that were round trips (not run inside a script). */
async function commandsProcessed(clients: Redis[]): Promise<{ all: number; roundTrips: number }> {
  let all = 0;
  let inner = 0;
  for (const c of clients) {
    const info = await c.info('commandstats');
    for (const m of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
      const calls = Number(m[2]);
      all += calls;
      if (SCRIPT_INNER.includes(m[1]!)) inner += calls;
    }
  }
  return { all, roundTrips: all - inner };
}

interface Result {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
  redisPerMessage: number;
  roundTripsPerMessage: number;
  cacheHits: number;
  cacheMisses: number;
}

async function run(name: string, from: BenchNode, to: BenchNode, probes: Redis[], background: number, tag: string): Promise<Result> {
  const perPair = Math.ceil(MESSAGES / PAIRS);
  const total = perPair * PAIRS;
  const latencies = new Float64Array(total);
  const sentAt = new Float64Array(total);
  let received = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const pairs: Array<{ sender: { session: C2sSession; sink: Sink }; target: string }> = [];
  for (let p = 0; p < PAIRS; p++) {
    const sender = await bind(from, `s${p}-${tag}@localhost/r`);
    const receiver = await bind(to, `r${p}-${tag}@localhost/r`);
    receiver.sink.onMessage = (el) => {
      const i = Number(el.attrs.id);
      if (!Number.isInteger(i)) return;
      latencies[i] = performance.now() - sentAt[i]!;
      if (++received === total) done();
    };
    pairs.push({ sender, target: `r${p}-${tag}@localhost` });
  }
  const send = (p: (typeof pairs)[number], id: string): Promise<void> | void =>
    processClientElement(from.server, p.sender.session, x('message', { xmlns: 'jabber:client', to: p.target, type: 'chat', id }, x('body', null, `message ${id}`)));
  // Warm-up: the first lookup of each account fills the sending node's cache.
  for (const p of pairs) await send(p, 'warm');
  await new Promise((r) => setTimeout(r, 200));
  const cache = from.node.sessions.cache;
  const [hits0, misses0] = [cache.hits, cache.misses];
  const commands0 = await commandsProcessed(probes);
  const started = performance.now();
  await Promise.all(pairs.map(async (p, k) => {
    for (let j = 0; j < perPair; j++) {
      const i = k * perPair + j;
      sentAt[i] = performance.now();
      await send(p, String(i));
    }
  }));
  await finished;
  const seconds = (performance.now() - started) / 1000;
  // INFO itself counts one command per server.
  const commands1 = await commandsProcessed(probes);
  const commands = commands1.all - commands0.all - probes.length - background * seconds;
  const roundTrips = commands1.roundTrips - commands0.roundTrips - probes.length - background * seconds;
  const s = summarize([latencies]);
  return {
    name,
    perSecond: total / seconds,
    p50: s.p50,
    p99: s.p99,
    redisPerMessage: Math.max(0, commands) / total,
    roundTripsPerMessage: Math.max(0, roundTrips) / total,
    cacheHits: cache.hits - hits0,
    cacheMisses: cache.misses - misses0,
  };
}

const deployment = useCluster ? await redisClusterService() : await redisService();
const urls = 'urls' in deployment ? deployment.urls : [deployment.url];
const ports = 'ports' in deployment ? deployment.ports : [deployment.port];
const probes = ports.map((port) => new Redis(port, '127.0.0.1'));
for (const p of probes) await p.flushall();
const store = new MemoryStore();
const [n1, n2] = [await startNode('bench-n1', store, urls), await startNode('bench-n2', store, urls)];
try {
  // Background command rate of two idle nodes (heartbeats, dead-node checks, blocking inbox reads), as round trips.
  const idle0 = await commandsProcessed(probes);
  const idleStart = performance.now();
  await new Promise((r) => setTimeout(r, 3000));
  const background = ((await commandsProcessed(probes)).roundTrips - idle0.roundTrips - probes.length) / ((performance.now() - idleStart) / 1000);

  const results = [await run('same node', n1, n1, probes, background, 'same'), await run('two nodes', n1, n2, probes, background, 'cross')];
  console.log(`cluster routing, ${MESSAGES} chat messages over ${PAIRS} sender/receiver pairs, ${useCluster ? 'Redis Cluster (3 masters)' : 'standalone Redis'}, node ${process.version}`);
  console.log(`background Redis round trips of two idle nodes: ${background.toFixed(1)}/s (subtracted)`);
  console.log('| case | msg/s | p50 ms | p99 ms | Redis round trips/msg | Redis commands/msg (incl. in scripts) | cache hits | cache misses |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.name} | ${Math.round(r.perSecond)} | ${formatMs(r.p50)} | ${formatMs(r.p99)} | ${r.roundTripsPerMessage.toFixed(2)} | ${r.redisPerMessage.toFixed(2)} | ${r.cacheHits} | ${r.cacheMisses} |`);
  }
  console.log(`forwarded by n1: ${n1.locator.stats.forwarded}, received by n2: ${n2.locator.stats.received}`);
} finally {
  for (const n of [n1, n2]) {
    await n.locator.closeSessions('bench over');
    await stopRedisClusterNode(n.node);
    await n.server.stop();
  }
  for (const p of probes) p.disconnect();
  await stopAllServices();
}
