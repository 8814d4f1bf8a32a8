import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { restartRedis } from '../testing/services/redis.js';
import { scrapedValue } from '../testing/metrics.js';
import { Table } from '../storage/wide-column.js';
import type { XmlElement } from '../util/xml.js';
import { defineModule } from '../xmpp/module.js';
import { offlineRecorder } from '../testing/offline-recorder.js';
import presence from '../xmpp/modules/rfc6121-presence/index.js';
import roster from '../xmpp/modules/rfc6121-roster/index.js';
import sm, { NS_SM } from '../xmpp/modules/xep-0198-sm/index.js';
import { RosterStore } from '../xmpp/modules/rfc6121-roster/store.js';
import type { Server } from '../xmpp/server.js';
import { parseXml } from '../xmpp/stream/parse-xml.js';
import { parseJid } from '../util/jid.js';
import type { TestClient } from '../testing/harness.js';
import { eventually } from '../testing/eventually.js';
import { InProcessCluster, type ClusterTestNode } from '../testing/in-process-cluster.js';
import { redisTargets, type RedisDeployment } from '../testing/redis-cluster-nodes.js';
import type { ClusterLocator } from './cluster-locator.js';
import type { RedisClusterNode } from './redis/index.js';

interface Node {
  server: Server;
  node: RedisClusterNode;
  locator: ClusterLocator;
  offline: XmlElement[];
  /** The in-process node behind it (crash, stop). */
  test: ClusterTestNode;
}

const isChat = (body: string) => (el: XmlElement): boolean => el.name === 'message' && el.getChildText('body') === body;
const presenceFrom = (from: string, type?: string) => (el: XmlElement): boolean => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

for (const target of redisTargets) {
  describe(`ClusterLocator: in-process nodes on ${target.name}`, function () {
    this.timeout(30_000);
    let deployment: RedisDeployment | undefined;
    const cluster = new InProcessCluster(() => deployment!);

    before(async function () {
      deployment = await target.start();
    });
    beforeEach(() => cluster.reset());
    afterEach(() => cluster.stopAll());

    async function startNode(id: string): Promise<Node> {
      const offline: XmlElement[] = [];
      const test = await cluster.start(id, [roster, presence, sm, offlineRecorder(offline)]);
      return { server: test.ts.server, node: test.cluster, locator: test.locator, offline, test };
    }

    /** Its bus and heartbeat stop, nothing is cleaned up: as if the process died. */
    const crash = (n: Node): Promise<void> => cluster.crash(n.test);

    const login = (n: Node, full: string): Promise<TestClient> => n.test.ts.login(full);

    async function befriend(a: string, b: string): Promise<void> {
      const rs = new RosterStore(new Table(cluster.store, 'roster'), new Table(cluster.store, 'roster_meta'), new Table(cluster.store, 'roster_pending'));
      await rs.put(a, { jid: b, subscription: 'both', groups: [] });
      await rs.put(b, { jid: a, subscription: 'both', groups: [] });
    }

    it('delivers messages to full and bare JIDs held by another node', async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      const alice = await login(n1, 'alice@localhost/a');
      const bob = await login(n2, 'bob@localhost/b');
      await bob.send('<presence/>');
      await alice.send('<message to="bob@localhost/b" type="chat"><body>to full</body></message>');
      await alice.send('<message to="bob@localhost" type="chat"><body>to bare</body></message>');
      const got = await bob.waitFor(isChat('to full'));
      expect(got.attrs.from).to.equal('alice@localhost/a');
      await bob.waitFor(isChat('to bare'));
      await bob.send('<message to="alice@localhost/a" type="chat"><body>back</body></message>');
      await alice.waitFor(isChat('back'));
      expect(n1.locator.stats.forwarded).to.equal(2);
      expect(n2.locator.stats.received).to.equal(2);
      expect(scrapedValue(n1.server.metrics.render(), 'sori_cluster_stanzas_total', { outcome: 'forwarded' })).to.equal(2);
      expect(scrapedValue(n2.server.metrics.render(), 'sori_cluster_stanzas_total', { outcome: 'received' })).to.equal(2);
    });

    it("ends a deleted account's sessions on every node", async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      await n1.server.createAccount(parseJid('bob@localhost'), 'pw');
      const here = await login(n1, 'bob@localhost/here');
      const there = await login(n2, 'bob@localhost/there');
      const carol = await login(n2, 'carol@localhost/c');
      await n1.server.deleteAccount(parseJid('bob@localhost'));
      expect(here.closedWith).to.equal('not-authorized');
      await eventually(async () => expect(there.closedWith).to.equal('not-authorized'));
      expect(carol.closedWith).to.equal(undefined);
    });

    it('copies a bare-JID chat message to the resources of one account on two nodes', async function () {
      const [n1, n2, n3] = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
      const alice = await login(n1, 'alice@localhost/a');
      const bob2 = await login(n2, 'bob@localhost/two');
      const bob3 = await login(n3, 'bob@localhost/three');
      await bob2.send('<presence/>');
      await bob3.send('<presence/>');
      await alice.send('<message to="bob@localhost" type="chat"><body>both</body></message>');
      await bob2.waitFor(isChat('both'));
      await bob3.waitFor(isChat('both'));
    });

    it('carries presence broadcasts and roster pushes between nodes', async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      await befriend('alice@localhost', 'bob@localhost');
      const alice = await login(n1, 'alice@localhost/a');
      await alice.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>');
      await alice.send('<presence/>');
      const bob = await login(n2, 'bob@localhost/b');
      await bob.send('<presence><priority>5</priority></presence>');
      // Bob's initial presence reaches Alice on n1; Bob's probe is answered from n1.
      await alice.waitFor(presenceFrom('bob@localhost/b'));
      await bob.waitFor(presenceFrom('alice@localhost/a'));
      // A roster change on n1 is pushed to Alice's interested resource on n2.
      const carol = await login(n2, 'alice@localhost/c');
      await carol.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>');
      // Table writes reach other nodes' caches through an invalidation (docs/cluster.md): a push
      // racing it can miss the new resource, so the change is made once n1 sees Carol as interested.
      await eventually(async () => expect((await n1.locator.resources('alice@localhost')).some((r) => r.full === 'alice@localhost/c' && r.interested)).to.equal(true));
      await alice.iq('<iq type="set"><query xmlns="jabber:iq:roster"><item jid="dave@localhost" name="Dave"/></query></iq>');
      const push = await carol.waitFor((el) => el.name === 'iq' && el.attrs.type === 'set' && el.getChild('query')?.getChild('item')?.attrs.jid === 'dave@localhost');
      expect(push.attrs.to).to.equal('alice@localhost/c');
      await bob.send('<presence type="unavailable"/>');
      await alice.waitFor(presenceFrom('bob@localhost/b', 'unavailable'));
    });

    it('closes the older session with conflict when a full JID binds on another node', async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      const first = await login(n1, 'erin@localhost/phone');
      await login(n2, 'erin@localhost/phone');
      await eventually(() => expect(first.closedWith).to.equal('conflict'));
      await eventually(async () => expect((await n1.node.sessions.get('erin@localhost/phone'))?.node).to.equal('n2'));
      expect(n1.server.sessions.get('erin@localhost/phone')).to.equal(undefined);
    });

    it('leaves one session per full JID when two nodes bind it at the same moment, and a late update of the loser keeps the winner routable', async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      for (let i = 0; i < 5; i++) {
        const full = `race${i}@localhost/phone`;
        const [x, y] = await Promise.all([login(n1, full), login(n2, full)]);
        await eventually(() => expect([x.session.open, y.session.open].filter(Boolean)).to.have.length(1));
        const winner = x.session.open ? { client: x, node: 'n1' } : { client: y, node: 'n2' };
        // The loser's presence arrives after it was kicked: the entry stays the winner's.
        await (winner.node === 'n1' ? y : x).send('<presence/>').catch(() => undefined);
        await eventually(async () => expect((await n1.node.sessions.get(full))?.node).to.equal(winner.node));
      }
    });

    it('re-routes a stanza whose session went away to the offline path', async function () {
      const [n1, n2] = [await startNode('n1'), await startNode('n2')];
      const alice = await login(n1, 'alice@localhost/a');
      const bob = await login(n2, 'bob@localhost/b');
      await bob.send('<presence/>');
      const r = await n1.locator.resource('bob@localhost/b');
      expect(r?.node).to.equal('n2');
      // Bob leaves; a stanza already on its way (routed on the entry n1 saw) arrives after.
      n2.server.sessions.get('bob@localhost/b')!.close();
      await eventually(async () => expect(await n2.node.sessions.get('bob@localhost/b')).to.equal(undefined));
      const stanza = parseXml('<message from="alice@localhost/a" to="bob@localhost/b" type="chat"><body>late</body></message>');
      expect(await n1.locator.forward(r!, stanza)).to.equal(true);
      await eventually(() => expect(n2.offline.map((m) => m.getChildText('body'))).to.deep.equal(['late']));
      expect(alice.all((el) => el.attrs.type === 'error')).to.have.length(0);
    });

    it('announces a dead node\'s sessions unavailable once and stores what its inbox held', async function () {
      const [n1, n2, n3] = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
      await befriend('alice@localhost', 'bob@localhost');
      const alice = await login(n1, 'alice@localhost/a');
      await alice.send('<presence/>');
      const bob = await login(n2, 'bob@localhost/b');
      await bob.send('<presence/>');
      await alice.waitFor(presenceFrom('bob@localhost/b'));
      // n2 crashes: its bus stops reading and its heartbeat stops, nothing is cleaned up.
      await crash(n2);
      await alice.send('<message to="bob@localhost" type="chat"><body>into the void</body></message>');
      await alice.waitFor(presenceFrom('bob@localhost/b', 'unavailable'), 10_000);
      await eventually(() => expect([...n1.offline, ...n3.offline].map((m) => m.getChildText('body'))).to.deep.equal(['into the void']), 10_000);
      await alice.send('<message to="bob@localhost" type="chat"><body>after</body></message>');
      await eventually(() => expect(n1.offline.map((m) => m.getChildText('body'))).to.include('after'));
      expect(alice.all(presenceFrom('bob@localhost/b', 'unavailable'))).to.have.length(1);
      expect(bob.all(isChat('into the void'))).to.have.length(0);
    });

    it("stores once a bare-JID message that sat in a dead node's inbox for two resources of the account", async function () {
      const [n1, n2, n3] = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
      const alice = await login(n1, 'alice@localhost/a');
      for (const resource of ['one', 'two']) await (await login(n2, `bob@localhost/${resource}`)).send('<presence/>');
      await eventually(async () => expect((await n1.locator.resources('bob@localhost')).filter((r) => r.priority !== null)).to.have.length(2));
      // n2 dies; until the cluster notices, n1 still hands each of Bob's resources its copy there.
      await crash(n2);
      await alice.send('<message to="bob@localhost" type="chat" id="m1"><body>to both</body></message>');
      await eventually(() => expect(n1.locator.stats.forwarded).to.equal(2));
      await eventually(async () => expect(await n1.node.sessions.byBare('bob@localhost')).to.deep.equal([]), 10_000);
      await eventually(() => expect([...n1.offline, ...n3.offline].map((m) => m.getChildText('body'))).to.deep.equal(['to both']));
    });

    // A Redis Cluster has no one server to restart: defined for the standalone deployment only.
    if (target.name !== 'Redis Cluster') {
      it('delivers to a session on another node a message routed while Redis restarted empty, instead of taking bob for offline', async function () {
        const [n1, n2] = [await startNode('n1'), await startNode('n2')];
        const alice = await login(n1, 'alice@localhost/a');
        const bob = await login(n2, 'bob@localhost/b');
        await bob.send('<presence/>');
        await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'));
        const port = deployment!.ports[0]!;
        await promisify(execFile)('redis-cli', ['-p', String(port), 'shutdown', 'nosave']).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
        // Looked up from n1's offline queue the moment Redis is back, before n2 has written its entry back.
        const sent = alice.send('<message to="bob@localhost/b" type="chat"><body>through the restart</body></message>');
        await restartRedis(port);
        await sent;
        await bob.waitFor(isChat('through the restart'), 10_000);
        expect([...n1.offline, ...n2.offline]).to.deep.equal([]);
      });
    }

    it('stops within its wait when a module never finishes leaving the cluster (Redis unreachable)', async function () {
      const stuck = defineModule({
        name: 'stuck-leaving',
        implements: 'test double: goodbyes that wait for Redis forever',
        start(ctx) {
          ctx.hook('cluster/leaving', () => new Promise<void>(() => undefined));
        },
      });
      const test = await cluster.start('n1', [roster, presence, stuck]);
      await test.ts.login('alice@localhost/a');
      await test.locator.closeSessions('stopping', 300);
      expect(test.ts.server.sessions.size).to.equal(0);
      test.crashed = true; // already stopped its sessions: the teardown must not wait on the hook again
    });

    it('stores a forwarded message the client never acknowledged (XEP-0198) when its node crashes', async function () {
      const [n1, n2, n3] = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
      const alice = await login(n1, 'alice@localhost/a');
      const bob = await login(n2, 'bob@localhost/b');
      await bob.send('<presence/>');
      await bob.send(`<enable xmlns="${NS_SM}"/>`);
      const enabled = await bob.waitFor((el) => el.name === 'enabled');
      await alice.send('<message to="bob@localhost/b" type="chat"><body>acknowledged</body></message>');
      await bob.waitFor(isChat('acknowledged'));
      const written = bob.received.slice(bob.received.indexOf(enabled) + 1).filter((el) => ['message', 'presence', 'iq'].includes(el.name));
      await bob.send(`<a xmlns="${NS_SM}" h="${written.length}"/>`);
      await alice.send('<message to="bob@localhost/b" type="chat"><body>written, never acknowledged</body></message>');
      await bob.waitFor(isChat('written, never acknowledged'));
      // Bob's socket dies with n2, and with it whatever the client had not yet read.
      await crash(n2);
      await eventually(() => expect([...n1.offline, ...n3.offline].map((m) => m.getChildText('body'))).to.deep.equal(['written, never acknowledged']), 10_000);
    });
  });
}
