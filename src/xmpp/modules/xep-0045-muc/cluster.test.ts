import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually } from '../../../testing/eventually.js';
import type { TestClient } from '../../../testing/harness.js';
import { inProcessClusterSuite, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import { restartRedis } from '../../../testing/services/redis.js';
import type { XmlElement } from '../../../util/xml.js';
import { HOLDER_TTL_MS } from '../../placement-queue.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import ping from '../xep-0199-ping/index.js';
import muc, { NS_MUC, NS_MUC_OWNER, NS_MUC_USER } from './index.js';

const ROOM = 'room@conference.localhost';
const codes = (p: XmlElement): string[] => (p.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code!);
const presenceFrom = (from: string, type?: string) => (el: XmlElement): boolean => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;
const groupchat = (body: string) => (el: XmlElement): boolean => el.name === 'message' && el.attrs.type === 'groupchat' && el.getChildText('body') === body;
const condition = (el: XmlElement): string | undefined => el.getChild('error')?.elements()[0]?.name;

const MODULES = [roster, presence, disco, ping, muc];

describe('XEP-0045 rooms in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster, deployment } = inProcessClusterSuite();
  const startNode = (id: string): Promise<ClusterTestNode> => cluster.start(id, MODULES);

  async function join(c: TestClient, nick: string): Promise<XmlElement> {
    await c.send(`<presence to='${ROOM}/${nick}'><x xmlns='${NS_MUC}'/></presence>`);
    const self = await c.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/${nick}` && (codes(el).includes('110') || el.attrs.type === 'error'), 5000);
    expect(self.attrs.type, self.toString()).to.equal(undefined);
    return self;
  }

  /** Nodes a and b; alice and bob on a, carol on b; alice alone in ROOM, an instant room (§10.1.2) on a. */
  async function aliceInInstantRoomOnA(): Promise<{ a: ClusterTestNode; b: ClusterTestNode; alice: TestClient; bob: TestClient; carol: TestClient }> {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await a.ts.login('bob@localhost/laptop');
    const carol = await b.ts.login('carol@localhost/web');
    await join(alice, 'alice');
    const instant = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
    expect(instant.attrs.type).to.equal('result');
    return { a, b, alice, bob, carol };
  }

  async function createPersistent(c: TestClient, nick: string, name: string): Promise<void> {
    await join(c, nick);
    const fields = `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_roomname'><value>${name}</value></field>`;
    const r = await c.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>${fields}</x></query></iq>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
  }

  /** XEP-0410: what a client learns by pinging itself in the room. */
  async function selfPing(c: TestClient, nick: string): Promise<string | undefined> {
    const r = await c.iq(`<iq type='get' to='${ROOM}/${nick}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    return r.attrs.type === 'result' ? 'joined' : condition(r);
  }

  it('runs a room on one node: occupants on two nodes hear each other, and a closed session leaves', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    const carol = await b.ts.login('carol@localhost/web');
    await createPersistent(alice, 'alice', 'Tea');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('a');

    await join(bob, 'bob');
    await join(carol, 'carol');
    await alice.waitFor(presenceFrom(`${ROOM}/bob`));
    await carol.waitFor(presenceFrom(`${ROOM}/alice`));
    await alice.send(`<message to='${ROOM}' type='groupchat'><body>from a</body></message>`);
    await bob.send(`<message to='${ROOM}' type='groupchat'><body>from b</body></message>`);
    for (const c of [alice, bob, carol]) {
      await c.waitFor(groupchat('from a'));
      await c.waitFor(groupchat('from b'));
    }
    // Order is kept across the hop: bob's two messages arrive as sent.
    for (let i = 0; i < 20; i++) await bob.send(`<message to='${ROOM}' type='groupchat'><body>n${i}</body></message>`);
    await alice.waitFor(groupchat('n19'));
    const seen = alice.all((el) => el.name === 'message' && /^n\d+$/.test(el.getChildText('body') ?? '')).map((el) => el.getChildText('body'));
    expect(seen).to.deep.equal(Array.from({ length: 20 }, (_, i) => `n${i}`));
    expect(await selfPing(carol, 'carol')).to.equal('joined');

    await bob.drop();
    await alice.waitFor(presenceFrom(`${ROOM}/bob`, 'unavailable'));
    await carol.waitFor(presenceFrom(`${ROOM}/bob`, 'unavailable'));
    expect(await selfPing(carol, 'carol')).to.equal('joined');
  });

  it('answers stanzas to a room that does not exist with item-not-found and leaves no claim: the room is later created where placement puts it', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    // A misspelt room name, as a goodbye, a message or a client's disco query would reach it (in that order, each
    // in the room's turn on a): each is answered as on one node, and nothing holds the name afterwards.
    await alice.send(`<presence to='${ROOM}/alice' type='unavailable'/>`);
    await alice.send(`<message to='${ROOM}' type='groupchat' id='m1'><body>anyone?</body></message>`);
    const bounced = await alice.waitFor((el) => el.name === 'message' && el.attrs.id === 'm1', 5000);
    expect(condition(bounced)).to.equal('item-not-found');
    const info = await alice.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(condition(info), info.toString()).to.equal('item-not-found');
    // The claim is given back just after the answer went out.
    await eventually(async () => expect(await b.cluster.sessions.holder(ROOM)).to.equal(undefined));
    const listed = await promisify(execFile)('redis-cli', ['-p', String(deployment().ports[0]), 'smembers', 'sori:node:{a}:placements']);
    expect(listed.stdout).to.not.include(ROOM);

    // Bob on b creates it: it runs on b, the node that claimed it for his join, and alice reaches it there.
    const self = await join(bob, 'bob');
    expect(codes(self)).to.include('201');
    expect(await a.cluster.sessions.holder(ROOM)).to.equal('b');
    const created = await alice.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(condition(created), created.toString()).to.equal('item-not-found'); // still locked for configuration (§10.1.1)
    const instant = await bob.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
    expect(instant.attrs.type).to.equal('result');
    await join(alice, 'alice');
    await bob.waitFor(presenceFrom(`${ROOM}/alice`));
    expect(await a.cluster.sessions.holder(ROOM)).to.equal('b');
  });

  it('keeps one copy of a room that a closed session emptied while a join started it again on the same node', async function () {
    const { a, b, alice, bob, carol } = await aliceInInstantRoomOnA();
    // Redis is slow to answer a's first release of the emptied room (one of two: the room is dropped when alice's
    // session closes, and her server's unavailable to it is answered in the room's turn); bob's join reaches a meanwhile.
    const sessions = a.cluster.sessions;
    const release = sessions.release.bind(sessions);
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    let held: Promise<void> | undefined;
    sessions.release = (key, node) => {
      if (held !== undefined) return release(key, node);
      held = gate.then(() => release(key, node));
      return held;
    };
    await alice.drop();
    await eventually(() => expect(held).to.not.equal(undefined));
    await bob.send(`<presence to='${ROOM}/bob'><x xmlns='${NS_MUC}'/></presence>`);
    // Through once bob is in the room, or (a join waiting for the release) after a moment.
    const joined = bob.waitFor(presenceFrom(`${ROOM}/bob`), 5000);
    await Promise.race([joined, new Promise((r) => setTimeout(r, 500))]);
    letGo();
    await joined;
    await held;
    const unlocked = await bob.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
    expect(unlocked.attrs.type).to.equal('result');
    // Carol, on b, finds bob's room on a, not a second, empty one of her own.
    await join(carol, 'carol');
    await carol.waitFor(presenceFrom(`${ROOM}/bob`), 5000);
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('a');
    const listed = await promisify(execFile)('redis-cli', ['-p', String(deployment().ports[0]), 'smembers', 'sori:node:{a}:placements']);
    expect(listed.stdout).to.include(ROOM);
  });

  it('gives the claim of a room back once when its last occupant leaves it', async function () {
    const b = await startNode('b');
    const bob = await b.ts.login('bob@localhost/laptop');
    await join(bob, 'bob');
    const sessions = b.cluster.sessions;
    const release = sessions.release.bind(sessions);
    let released = 0;
    sessions.release = (key, node) => {
      if (key === ROOM) released++;
      return release(key, node);
    };
    await bob.send(`<presence to='${ROOM}/bob' type='unavailable'/>`);
    await bob.waitFor(presenceFrom(`${ROOM}/bob`, 'unavailable'), 5000);
    await eventually(async () => expect(await sessions.holder(ROOM)).to.equal(undefined));
    bob.clear();
    // Handled in the room's turn after every release of the emptied room, so all of them have been made by then.
    const self = await join(bob, 'bob');
    expect(codes(self)).to.include('201');
    expect(released).to.equal(1);
    expect(await sessions.holder(ROOM)).to.equal('b');
  });

  it('starts a room again on a surviving node when its node dies: the stored room is kept and occupants rejoin', async function () {
    const [a, b, c] = [await startNode('a'), await startNode('b'), await startNode('c')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    const carol = await c.ts.login('carol@localhost/web');
    await createPersistent(alice, 'alice', 'Tea');
    await join(bob, 'bob');
    await join(carol, 'carol');
    await cluster.crash(a);

    // Until the cluster has noticed, the room's node is unreachable; then the room starts elsewhere and bob is not in it.
    await eventually(async () => expect(await selfPing(bob, 'bob')).to.equal('not-acceptable'), 10_000);
    expect(bob.all((el) => el.attrs.type === 'error').map(condition).filter((e) => e !== 'not-acceptable')).to.satisfy((errs: string[]) => errs.every((e) => e === 'service-unavailable'));
    const holder = await b.cluster.sessions.holder(ROOM);
    expect(holder).to.be.oneOf(['b', 'c']);

    await join(bob, 'bob');
    await join(carol, 'carol');
    await bob.waitFor(presenceFrom(`${ROOM}/carol`));
    const info = await carol.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')?.getChild('identity')?.attrs.name).to.equal('Tea');
    await carol.send(`<message to='${ROOM}' type='groupchat'><body>still here</body></message>`);
    await bob.waitFor(groupchat('still here'));
    expect(bob.all(presenceFrom(`${ROOM}/alice`))).to.have.length(1);
  });

  it('lets its rooms go when a node stops: occupants on other nodes hear status 332 and rejoin at once on a node that stays', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    await createPersistent(alice, 'alice', 'Tea');
    await join(bob, 'bob');
    await bob.send(`<message to='${ROOM}' type='groupchat'><body>before</body></message>`);
    await bob.waitFor(groupchat('before'));

    // SIGTERM on a: its sessions close, then it leaves the cluster.
    await a.locator.closeSessions('node stopping');
    const gone = await bob.waitFor(presenceFrom(`${ROOM}/bob`, 'unavailable'), 5000);
    expect(codes(gone)).to.include.members(['110', '332']);
    bob.clear();
    await join(bob, 'bob');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('b');
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')?.getChild('identity')?.attrs.name).to.equal('Tea');
    await cluster.stop(a);
    await bob.send(`<message to='${ROOM}' type='groupchat'><body>after</body></message>`);
    await bob.waitFor(groupchat('after'));
  });

  it('answers a stanza for a room with service-unavailable while Redis refuses writes, instead of dropping it', async function () {
    const b = await startNode('b');
    const bob = await b.ts.login('bob@localhost/laptop');
    // Redis at its memory limit (maxmemory, noeviction) answers every write with an OOM error.
    const setMaxMemory = (bytes: number) => promisify(execFile)('redis-cli', ['-p', String(deployment().ports[0]), 'config', 'set', 'maxmemory', String(bytes)]);
    await setMaxMemory(1);
    try {
      await bob.send(`<presence to='${ROOM}/bob'><x xmlns='${NS_MUC}'/></presence>`);
      const refused = await bob.waitFor(presenceFrom(`${ROOM}/bob`, 'error'), 3000);
      expect(condition(refused)).to.equal('service-unavailable');
    } finally {
      await setMaxMemory(0);
    }
  });

  it('keeps an occupant on another node in the room when Redis restarts empty while the room speaks (no status 333)', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    await createPersistent(alice, 'alice', 'Tea');
    await join(bob, 'bob');
    const port = deployment().ports[0]!;
    await promisify(execFile)('redis-cli', ['-p', String(port), 'shutdown', 'nosave']).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    // The room on a sends to bob the moment Redis is back, before b has written bob's entry back.
    await alice.send(`<message to='${ROOM}' type='groupchat'><body>through the restart</body></message>`);
    await restartRedis(port);
    await bob.waitFor(groupchat('through the restart'), 10_000);
    expect(bob.all(presenceFrom(`${ROOM}/bob`, 'unavailable'))).to.deep.equal([]);
    expect(await selfPing(bob, 'bob')).to.equal('joined');
  });

  it('removes occupants whose node died once the cluster notices, without waiting for the room to speak; their nick is free again', async function () {
    const [a, b, c] = [await startNode('a'), await startNode('b'), await startNode('c')];
    const bob = await b.ts.login('bob@localhost/laptop');
    const alice = await a.ts.login('alice@localhost/phone');
    await createPersistent(bob, 'bob', 'Tea');
    await join(alice, 'alice');
    await bob.waitFor(presenceFrom(`${ROOM}/alice`));
    // The subject ends the join: had it still sat in a's inbox, its bounce would remove her first (status 333).
    await alice.waitFor((el) => el.name === 'message' && el.getChild('subject') !== undefined);
    await cluster.crash(a);
    // Told by the node that cleans up after a (b or c), as alice's server: she left, as when a connection drops (§7.14).
    const gone = await bob.waitFor(presenceFrom(`${ROOM}/alice`, 'unavailable'), 10_000);
    expect(codes(gone)).to.deep.equal([]);
    expect(gone.getChild('x', NS_MUC_USER)?.getChild('item')?.attrs.role).to.equal('none');
    const dave = await c.ts.login('dave@localhost/tablet');
    await join(dave, 'alice');
    await bob.waitFor(presenceFrom(`${ROOM}/alice`));
    expect(bob.all(presenceFrom(`${ROOM}/alice`, 'unavailable'))).to.have.length(1);
  });

  it('tells a user whose node was declared dead while only paused that a room elsewhere dropped her (110, 333); she rejoins and talks', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    await createPersistent(bob, 'bob', 'Tea');
    await join(alice, 'alice');
    await alice.waitFor((el) => el.name === 'message' && el.getChild('subject') !== undefined);
    // She changes her nick (§7.6): a presence to the room without the MUC <x/>, still the room.
    await alice.send(`<presence to='${ROOM}/alicia'/>`);
    await alice.waitFor((el) => presenceFrom(`${ROOM}/alicia`)(el) && codes(el).includes('110'));
    await bob.waitFor(presenceFrom(`${ROOM}/alicia`));
    // A stops refreshing its alive key (a long pause): B cleans up after it, and the room on B drops alice.
    await a.cluster.sessions.liveness.stop(false);
    await bob.waitFor(presenceFrom(`${ROOM}/alicia`, 'unavailable'), 10_000);
    expect(alice.all(presenceFrom(`${ROOM}/alicia`, 'unavailable'))).to.deep.equal([]);

    // A comes back: her client learns she is out (the room's own goodbye to her went nowhere), as Conversations and Gajim read it.
    let reconnected!: () => void;
    const done = new Promise<void>((resolve) => (reconnected = resolve));
    a.ts.server.hooks.add('cluster/reconnected', () => reconnected(), -1_000_000);
    a.cluster.sessions.liveness.startTimers();
    const gone = await alice.waitFor(presenceFrom(`${ROOM}/alicia`, 'unavailable'), 10_000);
    expect(codes(gone)).to.include.members(['110', '333']);
    expect(gone.attrs.to).to.equal('alice@localhost/phone');
    // Once A has said everything it says on coming back, she is still out: nothing rejoined in her name.
    await done;
    expect(await selfPing(alice, 'alicia')).to.equal('not-acceptable');
    await join(alice, 'alicia');
    await alice.send(`<message to='${ROOM}' type='groupchat'><body>back again</body></message>`);
    await bob.waitFor(groupchat('back again'));
    expect(await selfPing(alice, 'alicia')).to.equal('joined');
    expect(alice.all((el) => el.name === 'presence' && el.attrs.type === 'unavailable' && codes(el).includes('333'))).to.have.length(1);
  });

  it('evicts a room from a node that was cut off while another node took the room over', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/laptop');
    await join(alice, 'alice');
    expect(await a.cluster.sessions.holder(ROOM)).to.equal('a');
    // A stops refreshing its alive key (a long pause): B cleans up after it; then bob's join starts the room on B.
    await a.cluster.sessions.liveness.stop(false);
    await eventually(async () => expect(await b.cluster.sessions.holder(ROOM)).to.equal(undefined), 10_000);
    await join(bob, 'bob');
    const instant = await bob.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
    expect(instant.attrs.type).to.equal('result');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('b');

    a.cluster.sessions.liveness.startTimers();
    const gone = await alice.waitFor(presenceFrom(`${ROOM}/alice`, 'unavailable'), 10_000);
    expect(codes(gone)).to.include.members(['110', '332']);
    await join(alice, 'alice');
    await bob.waitFor(presenceFrom(`${ROOM}/alice`));
    // Told once: the room she was in ran here, so the node's own notice for rooms lost elsewhere (333) is not sent too.
    expect(alice.all(presenceFrom(`${ROOM}/alice`, 'unavailable'))).to.have.length(1);
  });

  it('checks a room after a reconnection in its turn: a join placed meanwhile finds the room with its occupants, who stay', async function () {
    const { a, b, alice, bob, carol } = await aliceInInstantRoomOnA();
    // A is cut off (it stops refreshing its alive key): B cleans up after it, and carol starts the room on B.
    await a.cluster.sessions.liveness.stop(false);
    await eventually(async () => expect(await b.cluster.sessions.holder(ROOM)).to.equal(undefined), 10_000);
    await join(carol, 'carol');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('b');

    // Carol leaves; B's release of the emptied room is held back, so Redis still names B.
    const bSessions = b.cluster.sessions;
    const bRelease = bSessions.release.bind(bSessions);
    let letGoB!: () => void;
    const gateB = new Promise<void>((resolve) => (letGoB = resolve));
    let heldB: Promise<void> | undefined;
    bSessions.release = (key, node) => {
      if (heldB !== undefined || key !== ROOM) return bRelease(key, node);
      heldB = gateB.then(() => bRelease(key, node));
      return heldB;
    };
    await carol.send(`<presence to='${ROOM}/carol' type='unavailable'/>`);
    await eventually(() => expect(heldB).to.not.equal(undefined));

    // Bob joins on A (A's cached holder has expired, so it asks Redis): his claim, in the room's turn, is held back.
    await new Promise((resolve) => setTimeout(resolve, HOLDER_TTL_MS));
    const aSessions = a.cluster.sessions;
    const aClaim = aSessions.claim.bind(aSessions);
    let letGoA!: () => void;
    const gateA = new Promise<void>((resolve) => (letGoA = resolve));
    let heldA: Promise<string> | undefined;
    const others: Array<Promise<string>> = [];
    aSessions.claim = (key, node) => {
      if (key !== ROOM) return aClaim(key, node);
      if (heldA !== undefined) {
        const p = aClaim(key, node);
        others.push(p);
        return p;
      }
      heldA = gateA.then(() => aClaim(key, node));
      return heldA;
    };
    await bob.send(`<presence to='${ROOM}/bob'><x xmlns='${NS_MUC}'/></presence>`);
    await eventually(() => expect(heldA).to.not.equal(undefined));

    // A reconnects and checks its rooms. A check made beside bob's join would read B here and evict alice's room.
    await a.ts.server.emit('cluster/reconnected', { declaredDead: false });
    await Promise.all(others);
    letGoB();
    await heldB;
    letGoA();
    const self = await bob.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/bob` && codes(el).includes('110'), 5000);
    expect(self.attrs.type, self.toString()).to.equal(undefined);
    expect(codes(self)).to.not.include('201');
    expect(bob.all(presenceFrom(`${ROOM}/alice`))).to.have.length(1);
    await alice.waitFor(presenceFrom(`${ROOM}/bob`));
    // The check, in the room's turn after bob's join, finds A holding the room and keeps it.
    await eventually(() => expect(others).to.have.length(1));
    expect(await Promise.all(others)).to.deep.equal(['a']);
    await alice.send(`<message to='${ROOM}' type='groupchat'><body>still one room</body></message>`);
    await bob.waitFor(groupchat('still one room'));
    expect(alice.all(presenceFrom(`${ROOM}/alice`, 'unavailable'))).to.deep.equal([]);
    a.cluster.sessions.liveness.startTimers();
  });
});
