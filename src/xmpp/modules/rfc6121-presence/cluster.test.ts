import { expect } from 'chai';
import { Table } from '../../../storage/wide-column.js';
import type { TestClient } from '../../../testing/harness.js';
import { eventually } from '../../../testing/eventually.js';
import { inProcessClusterSuite } from '../../../testing/in-process-cluster.js';
import { RawComponent, SECRET } from '../../../testing/raw-component.js';
import { freePort } from '../../../testing/services/child-process.js';
import type { XmlElement } from '../../../util/xml.js';
import { DIRECTED_PRESENCE } from '../../session.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import components from '../xep-0114-components/index.js';
import { createRoom, errorCondition, joinRoom } from '../xep-0045-muc/test-support.js';
import presence from './index.js';

const isPresence = (from: string, type?: string) => (el: XmlElement): boolean => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

/**
 * RFC 6121 §4.6.3 across a cluster: whoever a user on a node that dies had sent directed presence to
 * hears the user go unavailable, once, from the node that cleans up after the dead one; the set of
 * recipients lived in the dead node's memory, so it must be read from the session table.
 */
describe('RFC 6121 §4.6 directed presence when the sender\'s cluster node dies', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();

  for (const broadcast of [false, true]) {
    it(`a stranger and a subscriber on another node hear one unavailable ${broadcast ? 'after' : 'without'} initial presence`, async function () {
      const [a, b] = [await cluster.start('a', [roster, presence]), await cluster.start('b', [roster, presence])];
      const rosters = new RosterStore(new Table(cluster.store, 'roster'), new Table(cluster.store, 'roster_meta'), new Table(cluster.store, 'roster_pending'));
      // Bob is subscribed to Alice's presence; Carol is nobody to her.
      await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'from', groups: [] });
      await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'to', groups: [] });
      const bob = await b.ts.login('bob@localhost/b');
      const carol = await b.ts.login('carol@localhost/c');
      for (const c of [bob, carol]) await c.send('<presence/>');
      const alice = await a.ts.login('alice@localhost/a');
      if (broadcast) await alice.send('<presence/>');
      for (const to of [bob, carol]) {
        await alice.send(`<presence to='${to.jid}'><show>chat</show></presence>`);
        await to.waitFor((e) => isPresence('alice@localhost/a')(e) && e.getChildText('show') === 'chat');
      }

      await cluster.crash(a);
      const heard = async (to: TestClient): Promise<XmlElement[]> => {
        await to.waitFor(isPresence('alice@localhost/a', 'unavailable'), 10_000);
        // A round trip to the server: a second copy routed with the first would be here by now.
        await to.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
        return to.all(isPresence('alice@localhost/a', 'unavailable'));
      };
      expect(await heard(carol)).to.have.length(1);
      expect(await heard(bob)).to.have.length(1);
    });
  }

  it('a stranger sent directed presence hears the user available again when her node, declared dead while only paused, comes back', async function () {
    const [a, b] = [await cluster.start('a', [roster, presence]), await cluster.start('b', [roster, presence])];
    const carol = await b.ts.login('carol@localhost/c');
    await carol.send('<presence/>');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send('<presence><show>away</show></presence>');
    await alice.send(`<presence to='${carol.jid}'><show>chat</show><status>ask me</status></presence>`);
    const shown = (e: XmlElement): boolean => isPresence('alice@localhost/a')(e) && e.getChildText('show') === 'chat';
    await carol.waitFor(shown);

    // A stops refreshing its alive key (a long pause): B cleans up after it and tells carol alice went.
    await a.cluster.sessions.liveness.stop(false);
    await carol.waitFor(isPresence('alice@localhost/a', 'unavailable'), 10_000);
    carol.clear();
    a.cluster.sessions.liveness.startTimers();
    // What carol had been told, not alice's broadcast presence, which carol never had.
    const again = await carol.waitFor(isPresence('alice@localhost/a'), 10_000);
    expect(again.getChildText('show')).to.equal('chat');
    expect(again.getChildText('status')).to.equal('ask me');
    expect(again.attrs.to).to.equal(carol.jid);
  });

  it('the goodbye said for a paused node is on its way before the node may come back: the stranger ends up seeing the user available', async function () {
    const [a, b] = [await cluster.start('a', [roster, presence]), await cluster.start('b', [roster, presence])];
    const carol = await b.ts.login('carol@localhost/c');
    await carol.send('<presence/>');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<presence to='${carol.jid}'><show>chat</show></presence>`);
    await carol.waitFor((e) => isPresence('alice@localhost/a')(e) && e.getChildText('show') === 'chat');
    // B's goodbye to carol in alice's name is slow to route (a loaded node), for longer than A takes to be back.
    const route = b.ts.server.route.bind(b.ts.server);
    let goodbye: Promise<void> | undefined;
    b.ts.server.route = (stanza, origin) => {
      if (goodbye !== undefined || !isPresence('alice@localhost/a', 'unavailable')(stanza) || stanza.attrs.to !== carol.jid) return route(stanza, origin);
      goodbye = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => route(stanza, origin));
      return goodbye;
    };

    await a.cluster.sessions.liveness.stop(false);
    await eventually(() => expect(goodbye).to.not.equal(undefined), 10_000);
    a.cluster.sessions.liveness.startTimers();
    await goodbye;
    // Without the wait, A said it again before the goodbye landed: carol saw alice go, for good.
    const heard = (): string[] => carol.all((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/a').map((e) => `${e.attrs.type ?? 'available'} ${e.getChildText('show')}`);
    await eventually(() => expect(heard()).to.deep.equal(['available chat', 'unavailable undefined', 'available chat']), 10_000);
    await carol.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(heard()).to.have.length(3);
  });

  // XEP-0045 §7.6: the room answers a nick change it refuses from the new nick, on the node running the room;
  // the user's session, on another node, must drop that nick from the addresses it will say unavailable to.
  it('a nick change refused by a room on another node is not kept among the addresses to tell of unavailable', async function () {
    const ROOM = 'tea@conference.localhost';
    const modules = [roster, disco, presence, muc];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules)];
    const carol = await a.ts.login('carol@localhost/c');
    await createRoom(carol, ROOM, 'carol');
    const alice = await b.ts.login('alice@localhost/a');
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    await alice.send(`<presence to='${ROOM}/carol' id='nick'/>`);
    const refused = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'nick', 5000);
    expect(refused.attrs).to.include({ type: 'error', from: `${ROOM}/carol` });
    expect(errorCondition(refused)).to.equal('conflict');
    const directed = (): string[] => [...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])];
    await eventually(() => expect(directed()).to.deep.equal([`${ROOM}/alice`]), 5000);
    // And what the node cleaning up after B would read, should B die.
    await eventually(async () => expect((await a.cluster.sessions.get('alice@localhost/a'))?.directed).to.deep.equal([`${ROOM}/alice`]), 5000);
  });

  // XEP-0045 §7.6: the room takes a nick change with unavailable (303) from the old nick, routed on its node; the
  // user's session, on another node, keeps only the new nick, as does the table a node cleaning up after it reads.
  it('a nick change taken by a room on another node leaves only the new nick among the addresses to tell of unavailable', async function () {
    const ROOM = 'tea@conference.localhost';
    const modules = [roster, disco, presence, muc];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules)];
    const carol = await a.ts.login('carol@localhost/c');
    await createRoom(carol, ROOM, 'carol');
    const alice = await b.ts.login('alice@localhost/a');
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    await alice.send(`<presence to='${ROOM}/alicia' id='nick'/>`);
    const taken = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'nick', 5000);
    expect(taken.attrs).to.include({ from: `${ROOM}/alicia` }).and.not.have.property('type');
    const directed = (): string[] => [...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])];
    await eventually(() => expect(directed()).to.deep.equal([`${ROOM}/alicia`]), 5000);
    await eventually(async () => expect((await a.cluster.sessions.get('alice@localhost/a'))?.directed).to.deep.equal([`${ROOM}/alicia`]), 5000);
  });

  // A room scripted by the test, as a remote MUC service would answer: a component serving muc.localhost, connected
  // to node a; alice is on node b and has asked to join it as 'alice' (id 'join'). Its answers are routed on node a.
  const TEA = 'tea@muc.localhost';
  const rooms: RawComponent[] = [];
  afterEach(() => rooms.splice(0).forEach((r) => r.end()));
  async function aliceJoiningRoomOnA() {
    const [port, portB] = [await freePort(), await freePort()];
    const modules = [roster, disco, presence, components];
    // Both nodes serve the component's domain (to route to it); it connects to node a.
    const a = await cluster.start('a', modules, { components: { port, secrets: { 'muc.localhost': SECRET } } });
    const b = await cluster.start('b', modules, { components: { port: portB, secrets: { 'muc.localhost': SECRET } } });
    const room = await RawComponent.open(port, 'muc.localhost');
    rooms.push(room);
    await room.authenticate();
    await room.waitFor(/<handshake\/>/);
    const alice = await b.ts.login('alice@localhost/a');
    await alice.send(`<presence to='${TEA}/alice' id='join'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await room.waitFor(/<presence [^>]*id='join'/);
    const directed = (): string[] => [...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])];
    const directedInTable = async (): Promise<string[] | undefined> => (await a.cluster.sessions.get('alice@localhost/a'))?.directed;
    return { a, b, room, alice, directed, directedInTable };
  }
  /** What the room sends as alice's self-presence (or its answer to a nick change) from `nick`. */
  const fromRoom = (nick: string, codes: string, attrs: string, item = ''): string =>
    `<presence from='${TEA}/${nick}' to='alice@localhost/a' ${attrs}><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'${item}/>${codes}</x></presence>`;
  /** The occupant JIDs the room was sent unavailable presence to, in order. */
  const unavailableTo = (room: RawComponent): string[] =>
    [...room.received.matchAll(/<presence [^>]*type='unavailable'[^>]*>/g)].map(([p]) => p.match(/to='([^']*)'/)![1]!);

  // XEP-0045 §7.2.9: the room takes her in under another nick, with 210; its self-presence is routed on node a, her
  // session is on node b. Node b, and the table a node cleaning up after b reads, keep the nick the room gave, and
  // her going tells the room once, there.
  it('a nick assigned by a room whose presence is routed on another node is the one told of unavailable', async function () {
    const { b, room, alice, directed, directedInTable } = await aliceJoiningRoomOnA();
    room.send(fromRoom('alice-2', "<status code='110'/><status code='210'/>", "id='join'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join', 5000);
    await eventually(() => expect(directed()).to.deep.equal([`${TEA}/alice-2`]), 5000);
    await eventually(async () => expect(await directedInTable()).to.deep.equal([`${TEA}/alice-2`]), 5000);

    await alice.send("<presence type='unavailable'/>");
    await room.waitFor(/<presence [^>]*type='unavailable'/, 5000);
    // A message sent after she went reaches the room after whatever her going sent it.
    const carol = await b.ts.login('carol@localhost/c');
    await carol.send(`<message to='${TEA}' type='groupchat' id='last'><body>after</body></message>`);
    await room.waitFor(/<message [^>]*id='last'/, 5000);
    expect(unavailableTo(room)).to.deep.equal([`${TEA}/alice-2`]);
  });

  // The room's self-presence answering her join is routed on node a, her session is on node b: node b hears of it,
  // so an error carrying the join's id after she is in no longer drops her nick there, and she leaves the room.
  it('a join answered by a room whose presence is routed on another node is no longer refused by its id', async function () {
    const { a, room, alice } = await aliceJoiningRoomOnA();
    room.send(fromRoom('alice', "<status code='110'/>", "id='join'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join', 5000);
    room.send(`<presence from='${TEA}/alice' to='alice@localhost/a' type='error' id='join'><error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`);
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join' && e.attrs.type === 'error', 5000);
    // A message sent after the error reaches node b's session after whatever the error made node a post to b.
    const carol = await a.ts.login('carol@localhost/c');
    await carol.send(`<message to='alice@localhost/a' id='after-error'><body>after</body></message>`);
    await alice.waitFor((e) => e.name === 'message' && e.attrs.id === 'after-error', 5000);

    await alice.send("<presence type='unavailable'/>");
    await room.waitFor(/<presence [^>]*type='unavailable'/, 5000);
    expect(unavailableTo(room)).to.deep.equal([`${TEA}/alice`]);
  });

  // The room's self-presence is written to her session on node b, which reads it there: node a, routing it, posts
  // nothing to node b about it (before, one post per self-presence, as many as MUC presence crossing the nodes).
  it('a self-presence from a room whose presence is routed on another node causes no node post', async function () {
    const { a, room, alice, directed } = await aliceJoiningRoomOnA();
    const posted: string[] = [];
    const nodePost = a.ts.server.nodePost.bind(a.ts.server);
    a.ts.server.nodePost = (node, topic, body) => {
      posted.push(topic);
      return nodePost(node, topic, body);
    };
    room.send(fromRoom('alice', "<status code='110'/>", "id='join'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join', 5000);
    await alice.send(`<presence to='${TEA}/alice' id='away'><show>away</show></presence>`);
    await room.waitFor(/<presence [^>]*id='away'/);
    room.send(fromRoom('alice', "<status code='110'/>", "id='away'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'away', 5000);
    expect(posted.filter((t) => t.startsWith('presence/'))).to.deep.equal([]);
    expect(directed()).to.deep.equal([`${TEA}/alice`]);
  });

  // XEP-0045 §7.6: the room on node a changes the nick her session on node b asked for in a nick change; node b drops
  // the nick asked for, so the room hears her go once, at the nick it gave.
  it('a nick change modified by a room whose presence is routed on another node leaves only the nick it gave', async function () {
    const { b, room, alice, directed, directedInTable } = await aliceJoiningRoomOnA();
    room.send(fromRoom('alice', "<status code='110'/>", "id='join'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join', 5000);
    await alice.send(`<presence to='${TEA}/alicia' id='nick'/>`);
    await room.waitFor(/<presence [^>]*id='nick'/);
    room.send(fromRoom('alice', "<status code='303'/><status code='110'/>", "type='unavailable' id='nick'", " nick='alice-2'"));
    room.send(fromRoom('alice-2', "<status code='110'/><status code='210'/>", "id='nick'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.from === `${TEA}/alice-2`, 5000);
    await eventually(() => expect(directed()).to.deep.equal([`${TEA}/alice-2`]), 5000);
    await eventually(async () => expect(await directedInTable()).to.deep.equal([`${TEA}/alice-2`]), 5000);

    await alice.send("<presence type='unavailable'/>");
    await room.waitFor(/<presence [^>]*type='unavailable'/, 5000);
    // A message sent after she went reaches the room after whatever her going sent it.
    const carol = await b.ts.login('carol@localhost/c');
    await carol.send(`<message to='${TEA}' type='groupchat' id='last'><body>after</body></message>`);
    await room.waitFor(/<message [^>]*id='last'/, 5000);
    expect(unavailableTo(room)).to.deep.equal([`${TEA}/alice-2`]);
  });
});
