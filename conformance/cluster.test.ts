/**
 * sori as a cluster, end to end: three node processes sharing DynamoDB Local
 * (accounts, rosters, offline messages) and Redis (session table, node bus),
 * with @xmpp/client users spread over the nodes. Covers cross-node messages,
 * presence and roster pushes, one account on two nodes, resource conflicts
 * across nodes, a Redis restart under the cluster, and a node killed with
 * SIGKILL while messages flow. The same routing scenario runs on a
 * three-master Redis Cluster.
 */
import { expect } from 'chai';
import type { EventEmitter } from 'node:events';
import { client as xmppClient } from '@xmpp/client';
import { Redis } from 'ioredis';
import { eventually } from '../src/testing/eventually.js';
import { dynamoLocalService } from '../src/testing/services/dynamodb-local.js';
import { flushRedis, redisClusterService, redisService, restartRedis } from '../src/testing/services/redis.js';
import { xml, type Element, type XmppSession } from './support/clients.js';
import { connectPatient, sharedStore, startClusterNode, type ClusterNodeProcess, type RedisTargetConfig, type SharedStore } from './support/cluster.js';

/** Generous: the test machine may be busy, and a stalled event loop must not pass for a dead node. */
const LIVENESS_SECONDS = 5;
const PASSWORD = 'cluster-pw';

let accountSeq = 0;
/** A fresh account name per use, so tests never see each other's rosters or offline messages. */
function user(name: string): string {
  accountSeq++;
  return `${name}${accountSeq}`;
}

const chat = (body: string) => (el: Element): boolean => el.is('message') && el.getChildText('body') === body;
const presenceFrom = (from: string, type?: string) => (el: Element): boolean =>
  el.is('presence') && el.attrs.from === from && el.attrs.type === type;
const rosterPush = (contact: string, pred: (item: Element) => boolean = () => true) => (el: Element): boolean => {
  if (!el.is('iq') || el.attrs.type !== 'set') return false;
  const item = el.getChild('query', 'jabber:iq:roster')?.getChild('item');
  return item !== undefined && item.attrs.jid === contact && pred(item);
};

interface Cluster {
  nodes: ClusterNodeProcess[];
  shared: SharedStore;
  redis: RedisTargetConfig;
  clients: XmppSession[];
  login(node: ClusterNodeProcess, username: string, resource?: string): Promise<XmppSession>;
  /** A user with an account, logged in, roster fetched, initial presence sent. */
  online(node: ClusterNodeProcess, username: string, resource?: string, presence?: Element): Promise<XmppSession>;
}

function useCluster(redisTarget: () => Promise<{ redis: RedisTargetConfig; ports: number[] }>, nodeCount = 3): Cluster {
  const cluster: Cluster = {
    nodes: [],
    shared: undefined as unknown as SharedStore,
    redis: undefined as unknown as RedisTargetConfig,
    clients: [],
    async login(node, username, resource) {
      const s = await connectPatient(node, { username, password: PASSWORD, resource });
      cluster.clients.push(s);
      return s;
    },
    async online(node, username, resource, presence) {
      const s = await cluster.login(node, username, resource);
      await s.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }), undefined, 60_000);
      await s.xmpp.send(presence ?? xml('presence'));
      return s;
    },
  };

  before(async function () {
    this.timeout(180_000);
    const [target, dynamo] = await Promise.all([redisTarget(), dynamoLocalService()]);
    await flushRedis(target.ports);
    cluster.redis = target.redis;
    cluster.shared = await sharedStore(dynamo);
    const names = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
    // The SIGKILL test queues however many messages flow before the death is noticed (670–1,630 seen); the
    // default offline quota (1,000, then resource-constraint to the sender) is not what it tests.
    const config = { modules: { options: { offline: { maxPerUser: 100_000 } } } };
    cluster.nodes = await Promise.all(names.map((name) => startClusterNode({ name, redis: target.redis, dynamodb: cluster.shared.dynamodb, livenessSeconds: LIVENESS_SECONDS, config })));
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const cl of cluster.clients) console.log(`--- ${cl.jid} received ---\n${cl.received.map(String).join('\n').slice(-3000)}`);
      for (const n of cluster.nodes) console.log(`--- node ${n.name} output (tail) ---\n${n.output().slice(-4000)}`);
    }
    for (const c of cluster.clients.splice(0)) await c.stop();
  });

  after(async function () {
    this.timeout(120_000);
    for (const c of cluster.clients.splice(0)) await c.stop();
    await Promise.all(cluster.nodes.map((n) => n.stop()));
    await cluster.shared?.close();
  });

  return cluster;
}

async function accounts(c: Cluster, ...names: string[]): Promise<string[]> {
  const made = names.map(user);
  for (const name of made) await c.shared.addUser(`${name}@localhost`, PASSWORD);
  return made;
}

/** Messages and presence between users on different nodes (runs on both Redis deployments). */
function routingScenario(c: Cluster): void {
  it('routes messages between users on different nodes, and presence and roster pushes after a subscription', async function () {
    const [alice, bob, carol] = await accounts(c, 'alice', 'bob', 'carol');
    const [n1, n2, n3] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const a = await c.online(n1, alice!, 'a');
    const b = await c.online(n2, bob!, 'b');
    const k = await c.online(n3, carol!, 'k');

    // Messages, both ways and from a third node.
    await a.xmpp.send(xml('message', { to: `${bob}@localhost/b`, type: 'chat' }, xml('body', {}, 'a→b full')));
    await a.xmpp.send(xml('message', { to: `${bob}@localhost`, type: 'chat' }, xml('body', {}, 'a→b bare')));
    await b.xmpp.send(xml('message', { to: `${alice}@localhost`, type: 'chat' }, xml('body', {}, 'b→a')));
    await k.xmpp.send(xml('message', { to: `${alice}@localhost/a`, type: 'chat' }, xml('body', {}, 'k→a')));
    expect((await b.waitFor(chat('a→b full'), undefined, 'message "a→b full"')).attrs.from).to.equal(`${alice}@localhost/a`);
    await b.waitFor(chat('a→b bare'), undefined, 'message "a→b bare"');
    expect((await a.waitFor(chat('b→a'), undefined, 'message "b→a"')).attrs.from).to.equal(`${bob}@localhost/b`);
    expect((await a.waitFor(chat('k→a'), undefined, 'message "k→a"')).attrs.from).to.equal(`${carol}@localhost/k`);

    // Subscription handshake across nodes (RFC 6121 §3.1): each side's roster push may be produced on the other node.
    await a.xmpp.send(xml('presence', { to: `${bob}@localhost`, type: 'subscribe' }));
    await b.waitFor((el) => el.is('presence') && el.attrs.type === 'subscribe' && el.attrs.from === `${alice}@localhost`);
    await b.xmpp.send(xml('presence', { to: `${alice}@localhost`, type: 'subscribed' }));
    await a.waitFor(rosterPush(`${bob}@localhost`, (item) => item.attrs.subscription === 'to'));
    await b.waitFor(rosterPush(`${alice}@localhost`, (item) => item.attrs.subscription === 'from'));
    // §3.1.5: Bob's current presence reaches the new subscriber on n1.
    await a.waitFor(presenceFrom(`${bob}@localhost/b`));

    // A presence change on n2 is broadcast to the subscriber on n1.
    await b.xmpp.send(xml('presence', {}, xml('show', {}, 'away')));
    await a.waitFor((el) => presenceFrom(`${bob}@localhost/b`)(el) && el.getChildText('show') === 'away');
    // Logging out on n2: the subscriber hears it.
    await b.stop();
    await a.waitFor(presenceFrom(`${bob}@localhost/b`, 'unavailable'));
  });

  it('runs a group chat room for occupants on three nodes (XEP-0045)', async function () {
    const [alice, bob, carol] = await accounts(c, 'alice', 'bob', 'carol');
    const [n1, n2, n3] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const room = `${user('room')}@conference.localhost`;
    const joined = (s: XmppSession, nick: string): Promise<Element> =>
      s.waitFor((el) => el.is('presence') && el.attrs.from === `${room}/${nick}` && el.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status').some((st) => st.attrs.code === '110') === true, undefined, `${nick} joined`);
    const a = await c.online(n1, alice!, 'a');
    await a.xmpp.send(xml('presence', { to: `${room}/alice` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
    await joined(a, 'alice');
    await a.xmpp.iqCaller.set(xml('query', { xmlns: 'http://jabber.org/protocol/muc#owner' }, xml('x', { xmlns: 'jabber:x:data', type: 'submit' })), room);
    const b = await c.online(n2, bob!, 'b');
    const k = await c.online(n3, carol!, 'k');
    for (const [s, nick] of [[b, 'bob'], [k, 'carol']] as const) {
      await s.xmpp.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
      await joined(s, nick);
    }
    await a.waitFor(presenceFrom(`${room}/carol`), undefined, 'carol in the room, seen from n1');
    await k.xmpp.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'hello from n3')));
    for (const s of [a, b, k]) expect((await s.waitFor(chat('hello from n3'), undefined, 'groupchat from n3')).attrs.from).to.equal(`${room}/carol`);
    await b.stop();
    await a.waitFor(presenceFrom(`${room}/bob`, 'unavailable'), undefined, 'bob leaves when his stream ends');
  });
}

describe('cluster: three sori nodes on one standalone Redis', function () {
  this.timeout(120_000);
  let redisPort = 0;
  const c = useCluster(async () => {
    const r = await redisService();
    redisPort = r.port;
    return { redis: { urls: [r.url], cluster: false }, ports: [r.port] };
  });

  routingScenario(c);

  it('delivers a bare-JID chat message to the resources of one account on two nodes', async function () {
    const [alice, bob] = await accounts(c, 'alice', 'bob');
    const [n1, n2, n3] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const a = await c.online(n1, alice!, 'a');
    const b2 = await c.online(n2, bob!, 'two');
    const b3 = await c.online(n3, bob!, 'three');
    // Each resource sees the other's presence (same account, different nodes).
    await b2.waitFor(presenceFrom(`${bob}@localhost/three`));
    await a.xmpp.send(xml('message', { to: `${bob}@localhost`, type: 'chat' }, xml('body', {}, 'to both')));
    await b2.waitFor(chat('to both'), undefined, 'message "to both"');
    await b3.waitFor(chat('to both'), undefined, 'message "to both"');
  });

  it('replaces a session when the same full JID binds on another node (conflict)', async function () {
    const [erin] = await accounts(c, 'erin');
    const [n1, n2] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess];
    const first = await c.online(n1, erin!, 'phone');
    const conflict = new Promise<string>((ok) => first.xmpp.on('error', (e: { condition?: string }) => ok(String(e.condition))));
    const second = await c.online(n2, erin!, 'phone');
    expect(await eventuallyValue(conflict, 10_000, 'stream error on the first session')).to.equal('conflict');
    // The new session is the one reachable now.
    const [frank] = await accounts(c, 'frank');
    const f = await c.online(n1, frank!, 'f');
    await f.xmpp.send(xml('message', { to: `${erin}@localhost/phone`, type: 'chat' }, xml('body', {}, 'who has it?')));
    await second.waitFor(chat('who has it?'), undefined, 'message "who has it?"');
  });

  it('resumes an XEP-0198 session on another node: the 3 messages sent meanwhile arrive once, later ones reach the new node', async function () {
    const [alice, bob] = await accounts(c, 'alice', 'bob');
    const [n1, n2, n3] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const a = await c.online(n3, alice!, 'a');
    const b = await c.online(n1, bob!, 'phone');
    const sm = smOf(b);
    await eventually(() => expect(sm.enabled && sm.id !== '').to.equal(true), 15_000, 50);
    const socket = (b.xmpp as unknown as { socket: { socket: { destroy(): void } | null } | null }).socket?.socket;
    if (!socket) throw new Error('no socket to destroy');
    socket.destroy();
    for (let i = 1; i <= 3; i++) await a.xmpp.send(xml('message', { to: `${bob}@localhost/phone`, type: 'chat' }, xml('body', {}, `while away ${i}`)));

    // The same app reconnecting to another node, with the counters it kept.
    const b2 = xmppClient({ service: `xmpp://${n2.host}:${n2.port}`, domain: n2.domain, username: bob!, password: PASSWORD, resource: 'phone' });
    (b2 as unknown as { timeout: number }).timeout = 30_000;
    b2.reconnect.stop();
    b2.on('error', () => undefined);
    const received: Element[] = [];
    b2.on('stanza', (el: Element) => received.push(el));
    const sm2 = smOf({ xmpp: b2 });
    sm2.id = sm.id;
    sm2.inbound = sm.inbound;
    sm2.outbound = sm.outbound;
    sm2.outbound_q = [...sm.outbound_q];
    const resumed = new Promise<void>((ok) => sm2.once('resumed', () => ok()));
    c.clients.push({ xmpp: b2, jid: '', received, waitFor: () => Promise.reject(new Error('unused')), stop: async () => void (await b2.stop().catch(() => undefined)) });
    // start() waits for 'online', which @xmpp/client 0.14 does not emit after a resumption: wait for 'resumed'.
    void b2.start().catch(() => undefined);
    await eventuallyValue(resumed, 30_000, 'resumption on the other node');

    await a.xmpp.send(xml('message', { to: `${bob}@localhost/phone`, type: 'chat' }, xml('body', {}, 'after resume')));
    await eventually(() => expect(received.some(chat('after resume'))).to.equal(true), 20_000, 50);
    const bodies = received.filter((el) => el.is('message')).map((el) => el.getChildText('body'));
    expect(bodies).to.deep.equal(['while away 1', 'while away 2', 'while away 3', 'after resume']);
  });

  it('keeps clients connected and routing working when Redis restarts empty', async function () {
    this.timeout(90_000);
    const [alice, bob] = await accounts(c, 'alice', 'bob');
    await c.shared.befriend(`${alice}@localhost`, `${bob}@localhost`);
    const [n1, n2] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess];
    const a = await c.online(n1, alice!, 'a');
    const b = await c.online(n2, bob!, 'b');
    await a.waitFor(presenceFrom(`${bob}@localhost/b`));
    const presenceBefore = a.received.filter(presenceFrom(`${bob}@localhost/b`)).length;

    await restartRedis(redisPort);
    // Each node writes its entries back on its own once it has reconnected.
    const probe = new Redis(redisPort, '127.0.0.1');
    try {
      await eventually(async () => expect(await probe.hexists(`sori:{${bob}@localhost}:sessions`, 'b')).to.equal(1), 30_000, 200);
      await eventually(async () => expect(await probe.hexists(`sori:{${alice}@localhost}:sessions`, 'a')).to.equal(1), 30_000, 200);
    } finally {
      probe.disconnect();
    }
    expect(a.xmpp.status).to.equal('online');
    expect(b.xmpp.status).to.equal('online');
    // Contacts hear the presence of restored sessions again (others may have missed it meanwhile).
    await eventually(() => expect(a.received.filter(presenceFrom(`${bob}@localhost/b`)).length).to.be.greaterThan(presenceBefore), 15_000, 100);
    await a.xmpp.send(xml('message', { to: `${bob}@localhost`, type: 'chat' }, xml('body', {}, 'after the restart')));
    await b.waitFor(chat('after the restart'), undefined, 'message "after the restart"');
    await b.xmpp.send(xml('message', { to: `${alice}@localhost/a`, type: 'chat' }, xml('body', {}, 'heard you')));
    await a.waitFor(chat('heard you'), undefined, 'message "heard you"');
  });

  // Last: it kills n3.
  it('loses nothing when a node is killed with SIGKILL while messages flow to its user', async function () {
    this.timeout(240_000);
    const [dave, erin, frank] = await accounts(c, 'dave', 'erin', 'frank');
    await c.shared.befriend(`${dave}@localhost`, `${erin}@localhost`);
    const [n1, n2, n3] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const e = await c.online(n1, erin!, 'e');
    const f = await c.online(n2, frank!, 'f');
    const d = await c.online(n3, dave!, 'd');
    await e.waitFor(presenceFrom(`${dave}@localhost/d`));

    const sent: string[] = [];
    let acked = 0;
    const sm = (f.xmpp as unknown as { streamManagement?: { enabled: boolean; on(ev: 'ack', fn: (stanza: Element) => void): void } }).streamManagement;
    const useAcks = sm?.enabled === true;
    if (useAcks) sm!.on('ack', (stanza) => stanza.is('message') && acked++);
    let stopSending = false;
    const ping = (): Promise<unknown> => f.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), 'localhost', 60_000);
    const sending = (async () => {
      for (let i = 0; !stopSending; i++) {
        const id = `m${i}`;
        await f.xmpp.send(xml('message', { to: `${dave}@localhost`, type: 'chat', id }, xml('body', {}, id)));
        sent.push(id);
        // A ping every ten messages keeps the sender at the speed the cluster handles them (stanzas are processed in order).
        if (i % 10 === 9) await ping();
      }
    })();
    // Some messages reach Dave live, then his node dies mid-stream.
    await eventually(() => expect(d.received.filter((el) => el.is('message')).length).to.be.greaterThan(20), 15_000);
    await n3.kill9();
    const killedAt = sent.length;
    // Within the liveness window a survivor declares n3 dead and tells Dave's contacts.
    await e.waitFor(presenceFrom(`${dave}@localhost/d`, 'unavailable'), 60_000, 'unavailable presence of the dead node\'s user');
    // Keep sending for a while after the death was noticed: these go straight to offline storage.
    const afterNotice = sent.length;
    await eventually(() => expect(sent.length).to.be.greaterThan(afterNotice + 20), 15_000);
    stopSending = true;
    await sending;
    // Everything the survivor accepted has been handled once it answers a later iq (stanzas are processed in order).
    await ping();
    if (useAcks) await eventually(() => expect(acked).to.equal(sent.length), 15_000);
    const accepted = useAcks ? acked : sent.length;

    const deliveredLive = d.received.filter((el) => el.is('message')).map((el) => el.attrs.id as string);
    await d.stop().catch(() => undefined);
    // Dave comes back on another node; offline storage hands him the rest.
    const again = await c.online(n1, dave!, 'back');
    const expected = new Set(sent);
    const got = (): string[] => [...deliveredLive, ...again.received.filter((el) => el.is('message') && el.getChildText('body')?.startsWith('m')).map((el) => el.attrs.id as string)];
    // How many messages queue up depends on how long the survivors take to notice the death, and the
    // offline queue drains at ~50 msg/s on DynamoDB Local, so the wait grows with the queue.
    await eventually(() => expect([...new Set(got())].filter((id) => expected.has(id)).length).to.equal(accepted), 30_000 + 40 * accepted, 100);
    const all = got();
    const unique = new Set(all);
    expect([...expected].filter((id) => !unique.has(id)), 'messages lost').to.deep.equal([]);
    // No sender saw an error: nothing was bounced.
    expect(f.received.filter((el) => el.is('message') && el.attrs.type === 'error')).to.deep.equal([]);
    console.log(`      sent ${sent.length} (${killedAt} before the kill), acknowledged ${accepted}${useAcks ? ' (XEP-0198)' : ' (sends)'}, delivered live ${deliveredLive.length}, from offline storage ${all.length - deliveredLive.length}, duplicates ${all.length - unique.size}`);
  });

  // After the SIGKILL test: n1 and n2 are left; this one stops n2.
  it('on SIGTERM closes streams with system-shutdown, announces its users unavailable and leaves their messages to offline storage', async function () {
    this.timeout(120_000);
    const [gina, hank] = await accounts(c, 'gina', 'hank');
    await c.shared.befriend(`${gina}@localhost`, `${hank}@localhost`);
    const [n1, n2] = c.nodes as [ClusterNodeProcess, ClusterNodeProcess];
    const h = await c.online(n1, hank!, 'h');
    const g = await c.online(n2, gina!, 'g');
    await h.waitFor(presenceFrom(`${gina}@localhost/g`));
    const streamError = new Promise<string>((ok) => g.xmpp.on('error', (e: { condition?: string }) => ok(String(e.condition))));
    await n2.stop();
    expect(await eventuallyValue(streamError, 20_000, 'stream error on the stopping node')).to.equal('system-shutdown');
    await h.waitFor(presenceFrom(`${gina}@localhost/g`, 'unavailable'));
    await h.xmpp.send(xml('message', { to: `${gina}@localhost`, type: 'chat', id: 'later' }, xml('body', {}, 'while you were out')));
    await h.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), 'localhost', 60_000);
    const back = await c.online(n1, gina!, 'back');
    await back.waitFor(chat('while you were out'), undefined, 'the offline message');
    expect(h.received.filter((el) => el.is('message') && el.attrs.type === 'error')).to.deep.equal([]);
  });
});

describe('cluster: three sori nodes on a three-master Redis Cluster', function () {
  this.timeout(120_000);
  const c = useCluster(async () => {
    const r = await redisClusterService();
    return { redis: { urls: r.urls, cluster: true }, ports: r.ports };
  });
  routingScenario(c);
});

/** The parts of @xmpp/client 0.14's stream management this file reaches into. */
interface SmInternals extends EventEmitter {
  id: string;
  enabled: boolean;
  inbound: number;
  outbound: number;
  outbound_q: unknown[];
}
const smOf = (s: { xmpp: unknown }): SmInternals => (s.xmpp as { streamManagement: SmInternals }).streamManagement;

function eventuallyValue<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, fail) => setTimeout(() => fail(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref())]);
}
