import { expect } from 'chai';
import { TestServer, type TestClient } from '../testing/harness.js';
import { parseJid } from '../util/jid.js';
import { x, type XmlElement } from '../util/xml.js';
import { parseXml } from './stream/parse-xml.js';
import roster from './modules/rfc6121-roster/index.js';
import presence from './modules/rfc6121-presence/index.js';
import disco from './modules/xep-0030-disco/index.js';
import caps from './modules/xep-0115-caps/index.js';
import vcard from './modules/xep-0054-vcard/index.js';
import privateXml from './modules/xep-0049-private/index.js';
import blocking from './modules/xep-0191-blocking/index.js';
import offline from './modules/xep-0160-offline/index.js';
import pep from './modules/xep-0163-pep/index.js';
import carbons from './modules/xep-0280-carbons/index.js';
import { createPushModule } from './modules/xep-0357-push/index.js';
import last from './modules/xep-0012-last/index.js';
import register from './modules/xep-0077-register/index.js';
import adhoc from './modules/xep-0050-adhoc/index.js';
import admin from './modules/xep-0133-admin/index.js';
import externalServices from './modules/xep-0215-external-services/index.js';
import bookmarks from './modules/xep-0402-bookmarks/index.js';
import ping from './modules/xep-0199-ping/index.js';
import version from './modules/xep-0092-version/index.js';
import offlineRetraction from './modules/xep-0424-retraction/offline.js';

/**
 * The authorization audit, from the point of view of mallory, a logged-in
 * user of the same server (and of eve, a user of another server, whose
 * stanzas reach the router as s2s hands them over): every iq handler that
 * answers at an account's bare JID, asked about victim's data, must refuse
 * and leave it as it was; a `from` naming someone else is never believed.
 */
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const condition = (r: XmlElement): string | undefined => r.getChild('error')?.elements().find((e) => e.attrs.xmlns === STANZAS)?.name;

describe('authorization: what one user may do to another', () => {
  let ts: TestServer;
  let victim: TestClient;
  let mallory: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, caps, vcard, privateXml, blocking, offline, pep, carbons, createPushModule(), last, register, adhoc, admin, externalServices, bookmarks, ping, version], {
      server: { admins: ['admin@localhost'] },
      modules: { options: { 'external-services': { services: ['turn:turn.localhost:3478'], turnSecret: 'shared-with-coturn' } } },
    });
    victim = await ts.login('victim@localhost/phone');
    mallory = await ts.login('mallory@localhost/laptop');
    await victim.send(`<presence/>`);
  });
  afterEach(() => ts.stop());

  /** Sends `stanza` as mallory and expects an error with `expected`, naming nothing of `secret`. */
  async function refused(stanza: string, expected: string, secret?: string): Promise<void> {
    const reply = await mallory.iq(stanza);
    expect(reply.attrs.type, reply.toString()).to.equal('error');
    expect(condition(reply), reply.toString()).to.equal(expected);
    if (secret !== undefined) expect(reply.toString()).not.to.contain(secret);
    expect(mallory.closedWith).to.equal(undefined);
  }

  it("refuses mallory the victim's roster, read and write (RFC 6121 §2.3.3: forbidden)", async () => {
    await victim.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='friend@localhost' name='Secret Friend'/></query></iq>`);
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:roster'/></iq>`, 'forbidden', 'Secret Friend');
    await refused(`<iq type='set' to='victim@localhost'><query xmlns='jabber:iq:roster'><item jid='mallory@localhost' name='Trusted'/></query></iq>`, 'forbidden');
    await refused(`<iq type='set' to='victim@localhost'><query xmlns='jabber:iq:roster'><item jid='friend@localhost' subscription='remove'/></query></iq>`, 'forbidden');
    const r = await victim.iq(`<iq type='get'><query xmlns='jabber:iq:roster'/></iq>`);
    expect(r.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['friend@localhost']);
  });

  it("refuses mallory the victim's private XML storage and legacy bookmarks (XEP-0049 §4: forbidden)", async () => {
    await victim.iq(`<iq type='set'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='secret@conference.localhost' autojoin='true'/></storage></query></iq>`);
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`, 'forbidden', 'secret@conference');
    await refused(`<iq type='set' to='victim@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`, 'forbidden');
    const r = await victim.iq(`<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`);
    expect(r.toString()).to.contain('secret@conference.localhost');
  });

  it("refuses mallory the victim's PEP bookmarks and other whitelist nodes, and every owner request (XEP-0060)", async () => {
    const options = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#persist_items'><value>true</value></field></x></publish-options>`;
    const pub = await victim.iq(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='secret@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/></item></publish>${options}</pubsub></iq>`);
    expect(pub.attrs.type, pub.toString()).to.equal('result');
    // A stranger learns nothing, not even that the account exists (RFC 6121 §8.5.1).
    await refused(`<iq type='get' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`, 'service-unavailable', 'secret@conference');
    await refused(`<iq type='set' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='urn:xmpp:bookmarks:1' jid='mallory@localhost'/></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='evil@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/></item></publish></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:xmpp:bookmarks:1'><item id='secret@conference.localhost'/></retract></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='get' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:bookmarks:1'/></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='get' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='urn:xmpp:bookmarks:1'/></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='urn:xmpp:bookmarks:1'><affiliation jid='mallory@localhost' affiliation='member'/></affiliations></pubsub></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='urn:xmpp:bookmarks:1'/></pubsub></iq>`, 'service-unavailable');
    // Nor through the legacy mirror of the same list.
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`, 'forbidden', 'secret@conference');
    const still = await victim.iq(`<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>`);
    expect(still.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['secret@conference.localhost']);
  });

  it("lets mallory read the victim's vCard (public by design) but never change it (XEP-0054)", async () => {
    await victim.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Victim</FN></vCard></iq>`);
    await refused(`<iq type='set' to='victim@localhost'><vCard xmlns='vcard-temp'><FN>Pwned</FN></vCard></iq>`, 'forbidden');
    const r = await mallory.iq(`<iq type='get' to='victim@localhost'><vCard xmlns='vcard-temp'/></iq>`);
    expect(r.getChild('vCard')!.getChildText('FN')).to.equal('Victim');
  });

  it("refuses mallory the victim's block list, as if nothing answered there (XEP-0191)", async () => {
    await victim.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='stalker@localhost'/></block></iq>`);
    await refused(`<iq type='get' to='victim@localhost'><blocklist xmlns='urn:xmpp:blocking'/></iq>`, 'service-unavailable', 'stalker');
    await refused(`<iq type='set' to='victim@localhost'><unblock xmlns='urn:xmpp:blocking'/></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><block xmlns='urn:xmpp:blocking'><item jid='friend@localhost'/></block></iq>`, 'service-unavailable');
    const r = await victim.iq(`<iq type='get'><blocklist xmlns='urn:xmpp:blocking'/></iq>`);
    expect(r.getChild('blocklist')!.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['stalker@localhost']);
  });

  it("refuses mallory the victim's push registrations (XEP-0357)", async () => {
    const enable = `<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='victim-node'/>`;
    expect((await victim.iq(`<iq type='set'>${enable}</iq>`)).attrs.type).to.equal('result');
    await refused(`<iq type='set' to='victim@localhost'><disable xmlns='urn:xmpp:push:0' jid='push.example.net'/></iq>`, 'forbidden');
    await refused(`<iq type='set' to='victim@localhost'><enable xmlns='urn:xmpp:push:0' jid='push.evil.example' node='n'/></iq>`, 'forbidden');
    const rows = await ts.store.range('push_registrations', 'victim@localhost');
    expect(rows.map((r) => r.value).join()).to.contain('victim-node').and.not.contain('push.evil.example');
  });

  it("refuses mallory the victim's carbons (XEP-0280)", async () => {
    await refused(`<iq type='set' to='victim@localhost'><enable xmlns='urn:xmpp:carbons:2'/></iq>`, 'forbidden');
  });

  it('tells mallory nothing of when the victim was last seen without a presence subscription (XEP-0012 §4)', async () => {
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:last'/></iq>`, 'forbidden');
    await refused(`<iq type='get' to='victim@localhost/phone'><query xmlns='jabber:iq:last'/></iq>`, 'forbidden');
    expect(victim.all((s) => s.name === 'iq' && s.getChild('query', 'jabber:iq:last') !== undefined)).to.have.length(0);
  });

  it("never changes the victim's password nor removes the account for mallory (XEP-0077)", async () => {
    await refused(`<iq type='set' to='victim@localhost'><query xmlns='jabber:iq:register'><username>victim</username><password>owned</password></query></iq>`, 'service-unavailable');
    await refused(`<iq type='set' to='victim@localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>`, 'service-unavailable');
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:register'/></iq>`, 'service-unavailable');
    // At the server, the username given must be mallory's own.
    await refused(`<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><username>victim</username><password>owned</password></query></iq>`, 'bad-request');
    expect(await ts.server.accounts.verifyPassword(parseJid('victim@localhost'), 'secret')).to.equal(true);
    expect(await ts.server.accounts.exists(parseJid('victim@localhost'))).to.equal(true);
  });

  it("runs no XEP-0133 command for mallory, who is no admin, lists and describes none, and lists only users' commands (XEP-0050)", async () => {
    const node = 'http://jabber.org/protocol/admin#delete-user';
    await refused(`<iq type='set' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='${node}' action='execute'/></iq>`, 'forbidden');
    await refused(`<iq type='set' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#change-user-password' action='execute'/></iq>`, 'forbidden');
    await refused(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${node}'/></iq>`, 'forbidden', 'Delete a User');
    const items = await mallory.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`);
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.node)).to.have.members(['ping', 'uptime']);
    // Nor at an account's address, where no commands are offered.
    await refused(`<iq type='set' to='victim@localhost'><command xmlns='http://jabber.org/protocol/commands' node='${node}' action='execute'/></iq>`, 'service-unavailable');
  });

  it("hands TURN credentials to the server's own users only, each their own (XEP-0215)", async () => {
    const mine = await mallory.iq(`<iq type='get' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`);
    expect(mine.getChild('services')!.getChild('service')!.attrs.username).to.match(/:mallory@localhost$/);
    await refused(`<iq type='get' to='victim@localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>`, 'service-unavailable');
    // A user of another server, as s2s hands its stanzas to the router.
    const eve = x('iq', { type: 'get', id: 'e1', from: 'eve@remote.example/x', to: 'localhost' }, x('services', { xmlns: 'urn:xmpp:extdisco:2' }));
    const replies: XmlElement[] = [];
    ts.server.hooks.add('route/remote', (ev) => (replies.push(ev.stanza), true));
    await ts.server.route(eve);
    expect(replies).to.have.length(1);
    expect(condition(replies[0]!)).to.equal('forbidden');
    expect(replies[0]!.toString()).not.to.contain('password');
  });

  it("answers disco of the victim's account only to its contacts (XEP-0030 §8)", async () => {
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`, 'service-unavailable');
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, 'service-unavailable');
  });

  it("ends mallory's stream when a stanza claims to be from someone else (RFC 6120 §8.1.2.1)", async () => {
    for (const kind of ['message', 'presence', 'iq']) {
      const client = await ts.login(`mallory@localhost/${kind}`);
      const attrs = kind === 'iq' ? ` type='get' id='s1'` : '';
      const payload = kind === 'iq' ? `<ping xmlns='urn:xmpp:ping'/>` : kind === 'message' ? '<body>from your bank</body>' : '';
      await client.send(`<${kind} from='victim@localhost/phone' to='friend@localhost'${attrs}>${payload}</${kind}>`);
      expect(client.closedWith, kind).to.equal('invalid-from');
    }
    victim.clear();
    // Her own bare JID is hers: it is stamped with her full JID.
    await mallory.send(`<message from='mallory@localhost' to='victim@localhost/phone' type='chat'><body>hi</body></message>`);
    const got = await victim.waitFor((s) => s.name === 'message');
    expect(got.attrs.from).to.equal('mallory@localhost/laptop');
  });
});

describe('authorization: a contact whose presence the victim sees, but who does not see the victim', () => {
  let ts: TestServer;
  let victim: TestClient;
  let mallory: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, caps, pep, last, offline, vcard]);
    victim = await ts.login('victim@localhost/phone');
    mallory = await ts.login('mallory@localhost/laptop');
    await victim.iq(`<iq type='get'><query xmlns='jabber:iq:roster'/></iq>`);
    await mallory.iq(`<iq type='get'><query xmlns='jabber:iq:roster'/></iq>`);
    await victim.send(`<presence/>`);
    await mallory.send(`<presence/>`);
    // The victim follows mallory; mallory approves. Mallory never asked to see the victim.
    await victim.send(`<presence type='subscribe' to='mallory@localhost'/>`);
    await mallory.send(`<presence type='subscribed' to='victim@localhost'/>`);
    const item = (await victim.iq(`<iq type='get'><query xmlns='jabber:iq:roster'/></iq>`)).getChild('query')!.getChild('item')!;
    expect(item.attrs).to.include({ jid: 'mallory@localhost', subscription: 'to' });
  });
  afterEach(() => ts.stop());

  async function refused(stanza: string, expected: string): Promise<void> {
    const reply = await mallory.iq(stanza);
    expect(reply.attrs.type, reply.toString()).to.equal('error');
    expect(condition(reply), reply.toString()).to.equal(expected);
  }

  it("keeps the victim's presence-access PEP nodes, last activity and disco from mallory", async () => {
    const pub = await victim.iq(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item id='current'><geoloc xmlns='http://jabber.org/protocol/geoloc'><locality>Home Street</locality></geoloc></item></publish></pubsub></iq>`);
    expect(pub.attrs.type, pub.toString()).to.equal('result');
    const items = await mallory.iq(`<iq type='get' to='victim@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/geoloc'/></pubsub></iq>`);
    expect(items.attrs.type, items.toString()).to.equal('error');
    expect(items.toString()).not.to.contain('Home Street');
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='jabber:iq:last'/></iq>`, 'forbidden');
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`, 'service-unavailable');
    expect(mallory.all((s) => s.name === 'message' && s.toString().includes('Home Street'))).to.have.length(0);
    expect(mallory.all((s) => s.name === 'presence' && s.attrs.from === 'victim@localhost/phone' && s.attrs.type === undefined)).to.have.length(0);
  });

  it('answers no XEP-0013 offline-message request at the victim (not offered)', async () => {
    await refused(`<iq type='get' to='victim@localhost'><offline xmlns='http://jabber.org/protocol/offline'><fetch/></offline></iq>`, 'service-unavailable');
    await refused(`<iq type='get' to='victim@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='http://jabber.org/protocol/offline'/></iq>`, 'service-unavailable');
  });
});

describe("authorization: a room occupant and another occupant's private messages", () => {
  let ts: TestServer;
  const room = 'den@conference.localhost';
  const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline, offlineRetraction]);
    await ts.addUser('victim@localhost');
  });
  afterEach(() => ts.stop());

  /** A private message as a room relays it (occupant-relay.ts): from the sender's occupant JID, with an empty muc#user <x/>. */
  const fromOccupant = (nick: string, inner: string, id: string): XmlElement =>
    parseXml(`<message type='chat' id='${id}' from='${room}/${nick}' to='victim@localhost/gone'>${inner}<x xmlns='${NS_MUC_USER}'/></message>`);

  it("does not let mallory's retraction take alice's private message out of the victim's offline storage (XEP-0424 §7)", async () => {
    // The victim's session went before the room's private messages reached it: they wait offline.
    await ts.server.route(fromOccupant('alice', `<body>meet me at 6</body><origin-id xmlns='urn:xmpp:sid:0' id='pm-1'/>`, 'pm-1'));
    // Another occupant of the same room names alice's message: every occupant JID has the room's bare JID.
    await ts.server.route(fromOccupant('mallory', `<retract xmlns='urn:xmpp:message-retract:1' id='pm-1'/><body>/me retracted a previous message</body>`, 'r-1'));
    await ts.server.route(fromOccupant('alice', `<body>last</body>`, 'pm-2'));
    const victim = await ts.login('victim@localhost/phone');
    await victim.send('<presence/>');
    await victim.waitFor((m) => m.name === 'message' && m.attrs.id === 'pm-2');
    expect(victim.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.include('meet me at 6');
  });

  it('still lets alice take back her own private message', async () => {
    await ts.server.route(fromOccupant('alice', `<body>wrong room</body><origin-id xmlns='urn:xmpp:sid:0' id='pm-1'/>`, 'pm-1'));
    await ts.server.route(fromOccupant('alice', `<retract xmlns='urn:xmpp:message-retract:1' id='pm-1'/><body>/me retracted a previous message</body>`, 'r-1'));
    await ts.server.route(fromOccupant('alice', `<body>last</body>`, 'pm-2'));
    const victim = await ts.login('victim@localhost/phone');
    await victim.send('<presence/>');
    await victim.waitFor((m) => m.name === 'message' && m.attrs.id === 'pm-2');
    expect(victim.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).not.to.include('wrong room');
  });
});

describe('authorization: in-band registration of a name the configuration makes an administrator', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, disco, adhoc, admin, register], { server: { admins: ['boss@localhost'] }, modules: { enabled: ['register'] } });
  });
  afterEach(() => ts.stop());

  it('refuses to register it, so that a stranger who comes first does not get XEP-0133 administration', async () => {
    const sent: XmlElement[] = [];
    const stream = { host: 'localhost', secure: true, remoteAddress: '192.0.2.7', sendRaw: (el: XmlElement) => void sent.push(el) };
    const handler = ts.server.registrations.preAuthIqs.get('jabber:iq:register')!;
    await handler(parseXml(`<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>Boss</username><password>mine now</password></query></iq>`), stream);
    expect(sent[0]!.attrs.type, sent[0]!.toString()).to.equal('error');
    expect(condition(sent[0]!)).to.equal('conflict');
    expect(await ts.server.accounts.exists(parseJid('boss@localhost'))).to.equal(false);
  });
});
