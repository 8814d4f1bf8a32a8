import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { Table } from '../../../storage/wide-column.js';
import type { XmlElement } from '../../../util/xml.js';
import { DIRECTED_PRESENCE } from '../../session.js';
import roster from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { configureRoom, createRoom, errorCondition, joinRoom } from '../xep-0045-muc/test-support.js';
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
    const bob = await ts.login('bob@localhost/b');
    await createRoom(bob, ROOM, 'bob');
    const alice = await ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
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
    const bob = await ts.login('bob@localhost/b');
    await createRoom(bob, ROOM, 'bob');
    const alice = await ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
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
