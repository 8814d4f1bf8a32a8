import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { RawComponent, SECRET } from '../../../testing/raw-component.js';
import { freePort } from '../../../testing/services/child-process.js';
import { Table } from '../../../storage/wide-column.js';
import type { XmlElement } from '../../../util/xml.js';
import { DIRECTED_PRESENCE } from '../../session.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import components from '../xep-0114-components/index.js';
import { configureRoom, createRoom, errorCondition, joinRoom, statusCodes } from '../xep-0045-muc/test-support.js';
import presence from './index.js';

const isPresence = (from: string, type?: string) => (el: XmlElement) => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

/** How the user's session ends. */
const endings: Record<string, (c: TestClient) => Promise<void>> = {
  'unavailable presence': (c) => c.send("<presence type='unavailable'/>"),
  'closing the stream': (c) => c.session.finish(null, false),
  'losing the connection': (c) => c.drop(),
};

/**
 * RFC 6121 §4.6: an entity the user sent directed presence to hears the user go unavailable, once,
 * however the session ends, whether or not it is also a subscriber and whether or not the user
 * ever broadcast presence.
 */
/** Bob's room `room`, created by him, and alice available and joined to it as 'alice'. */
async function aliceInBobsRoom(ts: TestServer, room: string): Promise<{ bob: TestClient; alice: TestClient }> {
  const bob = await ts.login('bob@localhost/b');
  await createRoom(bob, room, 'bob');
  const alice = await ts.login('alice@localhost/a');
  await alice.send('<presence/>');
  expect((await joinRoom(alice, room, 'alice')).attrs.type).to.equal(undefined);
  return { bob, alice };
}

describe('RFC 6121 §4.6 directed presence', () => {
  let ts: TestServer;
  let bob: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence]);
    const rosters = new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
    // Bob is subscribed to Alice's presence (her 'from', his 'to'); Carol is nobody to her.
    await rosters.put('alice@localhost', { jid: 'bob@localhost', subscription: 'from', groups: [] });
    await rosters.put('bob@localhost', { jid: 'alice@localhost', subscription: 'to', groups: [] });
    bob = await ts.login('bob@localhost/b');
    await bob.send('<presence/>');
  });
  afterEach(() => ts.stop());

  for (const [ending, end] of Object.entries(endings)) {
    for (const [recipient, broadcast] of [['a subscriber', false], ['a subscriber', true], ['a stranger', false], ['a stranger', true]] as const) {
      it(`${recipient} sent directed presence ${broadcast ? 'after' : 'without'} initial presence hears one unavailable on ${ending}`, async () => {
        const carol = await ts.login('carol@localhost/c');
        await carol.send('<presence/>');
        const to = recipient === 'a subscriber' ? bob : carol;
        const alice = await ts.login('alice@localhost/a');
        if (broadcast) await alice.send('<presence/>');
        await alice.send(`<presence to='${to.jid}'><show>chat</show></presence>`);
        await to.waitFor((e) => isPresence('alice@localhost/a')(e) && e.getChildText('show') === 'chat');
        await end(alice);
        await to.waitFor(isPresence('alice@localhost/a', 'unavailable'));
        await to.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
        expect(to.all(isPresence('alice@localhost/a', 'unavailable'))).to.have.length(1);
      });
    }
  }
});

/**
 * presence.maxDirected: past it, directed presence to one more address is refused (policy-violation, from that
 * address, as a client ties a failed MUC join to its room), and every address already sent to still hears the
 * session go: none is forgotten to make room.
 */
describe('presence.maxDirected', () => {
  let ts: TestServer;
  afterEach(() => ts.stop());

  it('refuses directed presence to one address more, until the user sends unavailable to one; each address sent to hears one unavailable', async () => {
    ts = await TestServer.start([roster, presence], { modules: { options: { presence: { maxDirected: 2 } } } });
    const [carol, dave, erin] = [await ts.login('carol@localhost/c'), await ts.login('dave@localhost/d'), await ts.login('erin@localhost/e')];
    const alice = await ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<presence to='${carol.jid}'/>`);
    await alice.send(`<presence to='${dave.jid}'/>`);
    await carol.waitFor(isPresence('alice@localhost/a'));
    await dave.waitFor(isPresence('alice@localhost/a'));

    await alice.send(`<presence to='${erin.jid}' id='p3'/>`);
    const refused = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'p3');
    expect(refused.attrs).to.include({ type: 'error', from: erin.jid });
    expect(refused.getChild('error')?.elements()[0]?.name).to.equal('policy-violation');
    await erin.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(erin.all(isPresence('alice@localhost/a'))).to.deep.equal([]);
    // An address already sent to is no new one: updates to it still go.
    await alice.send(`<presence to='${carol.jid}'><show>away</show></presence>`);
    await carol.waitFor((e) => isPresence('alice@localhost/a')(e) && e.getChildText('show') === 'away');

    await alice.send(`<presence to='${dave.jid}' type='unavailable'/>`);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'));
    await alice.send(`<presence to='${erin.jid}'/>`);
    await erin.waitFor(isPresence('alice@localhost/a'));

    await alice.drop();
    await carol.waitFor(isPresence('alice@localhost/a', 'unavailable'));
    await erin.waitFor(isPresence('alice@localhost/a', 'unavailable'));
    for (const c of [carol, dave, erin]) {
      await c.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
      expect(c.all(isPresence('alice@localhost/a', 'unavailable')), c.jid).to.have.length(1);
    }
  });
});

/**
 * XEP-0045 §7.6: a nick change the room refuses (conflict, from room/newnick) leaves the user under the old nick.
 * The new nick never took her in, so it is not one she must say unavailable to, nor one to speak for later.
 */
describe('directed presence refused with an error', () => {
  const ROOM = 'tea@conference.localhost';
  let ts: TestServer;
  afterEach(() => ts.stop());

  it('a refused nick change is not sent unavailable when the user goes; the room hears her leave from her nick', async () => {
    ts = await TestServer.start([roster, disco, presence, muc]);
    const routed: XmlElement[] = [];
    const route = ts.server.route.bind(ts.server);
    ts.server.route = (stanza, origin) => {
      if (stanza.name === 'presence' && stanza.attrs.to?.startsWith(`${ROOM}/`)) routed.push(stanza);
      return route(stanza, origin);
    };
    const { bob, alice } = await aliceInBobsRoom(ts, ROOM);
    await alice.send(`<presence to='${ROOM}/bob' id='nick'/>`);
    const refused = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'nick');
    expect(refused.attrs).to.include({ type: 'error', from: `${ROOM}/bob` });
    expect(errorCondition(refused)).to.equal('conflict');
    expect([...(ts.server.sessions.get('alice@localhost/a')!.get(DIRECTED_PRESENCE) ?? [])]).to.deep.equal([`${ROOM}/alice`]);

    routed.length = 0;
    await alice.send("<presence type='unavailable'/>");
    await bob.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'));
    expect(routed.map((p) => `${p.attrs.to} ${p.attrs.type}`)).to.deep.equal([`${ROOM}/alice unavailable`]);
    expect(bob.all((e) => e.name === 'presence' && e.attrs.from === `${ROOM}/bob` && e.attrs.type === 'unavailable')).to.deep.equal([]);
  });

  // XEP-0045 §7.2: a join the room turns down is answered from room/nick, but so is a rejoin from an occupant whose
  // client lost track of the room; the room refuses it (here: a password set since she joined) and keeps her in.
  it('an error from the nick the user holds leaves the room among those told she is gone', async () => {
    ts = await TestServer.start([roster, disco, presence, muc]);
    const { bob, alice } = await aliceInBobsRoom(ts, ROOM);
    const configured = await configureRoom(bob, ROOM, { 'muc#roomconfig_passwordprotectedroom': '1', 'muc#roomconfig_roomsecret': 's3cret' });
    expect(configured.attrs.type).to.equal('result');
    await alice.send(`<presence to='${ROOM}/alice' id='rejoin'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    const refused = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'rejoin');
    expect(refused.attrs).to.include({ type: 'error', from: `${ROOM}/alice` });
    expect(errorCondition(refused)).to.equal('not-authorized');

    await alice.send("<presence type='unavailable'/>");
    await bob.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'));
    // Gone from the room, not a ghost: her nick is free.
    const carol = await ts.login('carol@localhost/c');
    expect((await joinRoom(carol, ROOM, 'alice', '<password>s3cret</password>')).attrs.type).to.equal(undefined);
  });
});

/**
 * XEP-0045 §7.6: a nick change is presence to room/newnick; the room answers with unavailable (303, 110) from the old
 * nick, then available from the new one. It is the same room: one of presence.maxDirected's addresses, and one
 * unavailable, to the nick the room now knows her by, when she goes (§7.14); an unavailable to the old nick would
 * be read as her leaving from the new one, so the room would hear her go twice.
 */
describe('directed presence to a room after a nick change', () => {
  const ROOM = 'tea@conference.localhost';
  let ts: TestServer;
  afterEach(() => ts.stop());

  /** Stanzas routed to the room's nicks, as "to type". */
  function routedToRoom(): string[] {
    const routed: string[] = [];
    const route = ts.server.route.bind(ts.server);
    ts.server.route = (stanza, origin) => {
      if (stanza.name === 'presence' && stanza.attrs.to?.startsWith(`${ROOM}/`)) routed.push(`${stanza.attrs.to} ${stanza.attrs.type}`);
      return route(stanza, origin);
    };
    return routed;
  }

  const selfFrom = (nick: string) => (e: XmlElement) => e.name === 'presence' && e.attrs.from === `${ROOM}/${nick}` && e.attrs.type === undefined;

  it('a user at the cap may change nick, and the room still counts as one address', async () => {
    ts = await TestServer.start([roster, disco, presence, muc], { modules: { options: { presence: { maxDirected: 2 } } } });
    const bob = await ts.login('bob@localhost/b');
    await createRoom(bob, ROOM, 'bob');
    const [carol, dave, erin] = [await ts.login('carol@localhost/c'), await ts.login('dave@localhost/d'), await ts.login('erin@localhost/e')];
    const alice = await ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    await alice.send(`<presence to='${carol.jid}'/>`);
    await carol.waitFor(isPresence('alice@localhost/a'));

    await alice.send(`<presence to='${ROOM}/alicia' id='nick'/>`);
    const answer = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'nick');
    expect(answer.attrs, answer.toString()).to.include({ from: `${ROOM}/alicia` }).and.not.have.property('type');
    await bob.waitFor(selfFrom('alicia'));

    // One slot freed: one more address, and no more.
    await alice.send(`<presence to='${carol.jid}' type='unavailable'/>`);
    await carol.waitFor(isPresence('alice@localhost/a', 'unavailable'));
    await alice.send(`<presence to='${dave.jid}' id='d'/>`);
    await dave.waitFor(isPresence('alice@localhost/a'));
    await alice.send(`<presence to='${erin.jid}' id='e'/>`);
    const refused = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'e');
    expect(errorCondition(refused)).to.equal('policy-violation');
    expect(alice.all((e) => e.attrs.id === 'd' && e.attrs.type === 'error')).to.deep.equal([]);
  });

  it('after a nick change, the room hears one unavailable, to the new nick, when the user goes', async () => {
    ts = await TestServer.start([roster, disco, presence, muc]);
    const { bob, alice } = await aliceInBobsRoom(ts, ROOM);
    await alice.send(`<presence to='${ROOM}/alicia'/>`);
    await alice.waitFor((e) => selfFrom('alicia')(e) && statusCodes(e).includes('110'));
    expect([...(ts.server.sessions.get('alice@localhost/a')!.get(DIRECTED_PRESENCE) ?? [])]).to.deep.equal([`${ROOM}/alicia`]);

    const routed = routedToRoom();
    await alice.send("<presence type='unavailable'/>");
    await bob.waitFor(isPresence(`${ROOM}/alicia`, 'unavailable'));
    expect(routed).to.deep.equal([`${ROOM}/alicia unavailable`]);
    const carol = await ts.login('carol@localhost/c');
    expect((await joinRoom(carol, ROOM, 'alicia')).attrs.type).to.equal(undefined);
  });

  // The room's answers may come after the client sent a second change (network delay): each answer moves her from
  // the nick it names to the one it names, so she ends up under the nick the room says, here her first one again.
  it('answers to two nick changes in a row leave the nick the room answered last', async () => {
    ts = await TestServer.start([roster, disco, presence, muc]);
    const { bob, alice } = await aliceInBobsRoom(ts, ROOM);
    // Presence from the room to her waits until the room has answered both changes (two presences each).
    const held: Array<() => Promise<void>> = [];
    let holding = true;
    let allHeld = (): void => {};
    const answered = new Promise<void>((resolve) => (allHeld = resolve));
    const route = ts.server.route.bind(ts.server);
    ts.server.route = (stanza, origin) => {
      if (holding && stanza.name === 'presence' && stanza.attrs.from?.startsWith(`${ROOM}/`) && stanza.attrs.to === alice.jid) {
        held.push(() => route(stanza, origin));
        if (held.length === 4) allHeld();
        return Promise.resolve();
      }
      return route(stanza, origin);
    };
    await alice.send(`<presence to='${ROOM}/alicia' id='n1'/>`);
    await alice.send(`<presence to='${ROOM}/alice' id='n2'/>`);
    await answered;
    holding = false;
    for (const deliver of held) await deliver();
    await alice.waitFor((e) => e.attrs.id === 'n2');
    expect([...(ts.server.sessions.get('alice@localhost/a')!.get(DIRECTED_PRESENCE) ?? [])]).to.deep.equal([`${ROOM}/alice`]);

    const routed = routedToRoom();
    await alice.send("<presence type='unavailable'/>");
    await bob.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'));
    expect(routed).to.deep.equal([`${ROOM}/alice unavailable`]);
  });
});

/**
 * XEP-0045 §7.2.9: a room may take a user in under another nick than the one she asked for, saying so with 210 in
 * her self-presence (110), sent from the nick it gave her. A room elsewhere (Prosody, ejabberd; here a component
 * scripted by hand) knows her only by that nick: her unavailable must go there when she goes (§7.14), once, and
 * not to the nick she asked for.
 */
describe('directed presence to a room that assigns the nick', () => {
  const ROOM = 'tea@muc.localhost';
  let ts: TestServer;
  let room: RawComponent;
  beforeEach(async () => {
    const port = await freePort();
    ts = await TestServer.start([roster, disco, presence, components], { modules: { options: { components: { port, secrets: { 'muc.localhost': SECRET } } } } });
    room = await RawComponent.open(port, 'muc.localhost');
    await room.authenticate();
    await room.waitFor(/<handshake\/>/);
  });
  afterEach(async () => {
    room.end();
    await ts.stop();
  });

  /** The room's self-presence to Alice from `nick`, with `codes`, and `attrs` (type, id) on it. */
  const selfPresence = (nick: string, codes: string[], attrs: string, item = ''): string =>
    `<presence from='${ROOM}/${nick}' to='alice@localhost/a' ${attrs}><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'${item}/>${codes.map((code) => `<status code='${code}'/>`).join('')}</x></presence>`;

  /** Alice, online, asks to join as 'alice' (id 'join'), as far as the room. */
  async function askToJoin(): Promise<TestClient> {
    const alice = await ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<presence to='${ROOM}/alice' id='join'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await room.waitFor(/<presence [^>]*id='join'/);
    return alice;
  }

  /** Alice joins as 'alice'; the room answers from 'alice-2' with `codes`; then she goes. What the room then heard. */
  async function joinAndLeave(codes: string[]): Promise<string[]> {
    const alice = await askToJoin();
    room.send(selfPresence('alice-2', codes, "id='join'"));
    const self = await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join');
    expect(self.attrs.from, self.toString()).to.equal(`${ROOM}/alice-2`);
    return leave(alice);
  }

  /** Alice goes; the unavailable presences the room heard, by address. */
  async function leave(alice: TestClient): Promise<string[]> {
    await alice.send("<presence type='unavailable'/>");
    // A message sent after she went reaches the room after whatever her going sent it.
    const bob = await ts.login('bob@localhost/b');
    await bob.send(`<message to='${ROOM}' type='groupchat' id='last'><body>after</body></message>`);
    await room.waitFor(/<message [^>]*id='last'/);
    return [...room.received.matchAll(/<presence [^>]*type='unavailable'[^>]*>/g)].map(([p]) => p.match(/to='([^']*)'/)![1]!);
  }

  it('the room hears one unavailable, to the nick it assigned, when the user goes', async () => {
    expect(await joinAndLeave(['110', '210'])).to.deep.equal([`${ROOM}/alice-2`]);
  });

  // Without 210 a 110 from another nick is not taken for hers: it may be about her other resource's occupant.
  it('a self-presence from another nick without 210 leaves the nick asked for', async () => {
    expect(await joinAndLeave(['110'])).to.deep.equal([`${ROOM}/alice`]);
  });

  // XEP-0045 §7.6: the room may change the nick she asks for in a nick change too; it answers from her old nick with
  // 303 naming the nick it gave, then her self-presence from that nick with 210. The nick she asked for is never
  // hers: telling it her unavailable would read, in a remote room, as a join or a stranger's presence.
  for (const id of ["id='nick'", '']) {
    it(`a nick change the room modifies${id === '' ? ', answered without the id' : ''} leaves one unavailable, to the nick it gave`, async () => {
      const alice = await askToJoin();
      room.send(selfPresence('alice', ['110'], "id='join'"));
      await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join');
      await alice.send(`<presence to='${ROOM}/alicia' id='nick'/>`);
      await room.waitFor(/<presence [^>]*id='nick'/);
      room.send(selfPresence('alice', ['303', '110'], `type='unavailable' ${id}`, " nick='alice-2'"));
      room.send(selfPresence('alice-2', ['110', '210'], id));
      await alice.waitFor((e) => e.name === 'presence' && e.attrs.from === `${ROOM}/alice-2`);
      expect(await leave(alice)).to.deep.equal([`${ROOM}/alice-2`]);
    });
  }

  // An error carrying the join's id after the room took her in (a room bouncing something else under a reused id)
  // is no refusal of the join any more: she is in, and the room hears her go.
  it('an error with the id of a join already answered leaves the room told of her unavailable', async () => {
    const alice = await askToJoin();
    room.send(selfPresence('alice', ['110'], "id='join'"));
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join' && e.attrs.type === undefined);
    room.send(`<presence from='${ROOM}/alice' to='alice@localhost/a' type='error' id='join'><error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`);
    await alice.waitFor((e) => e.name === 'presence' && e.attrs.id === 'join' && e.attrs.type === 'error');
    expect(await leave(alice)).to.deep.equal([`${ROOM}/alice`]);
  });
});
