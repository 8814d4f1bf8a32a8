import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import disco from '../xep-0030-disco/index.js';
import ping from '../xep-0199-ping/index.js';
import muc, { NS_MUC, NS_MUC_ADMIN, NS_MUC_USER } from './index.js';
import { configureRoom, createRoom, errorCondition as condition, joinRoom, occupantItem as item, presenceFrom, statusCodes as codes } from './test-support.js';

const MODULES = [roster, presence, disco, ping, muc];
const ROOM = 'room@conference.localhost';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/** XEP-0045 §7.2 and §8–9: who may enter a room and speak in it, and the moderators and admins who decide. */
describe('XEP-0045 room access: kicks, bans, members-only, maxusers, passwords, non-anonymous and moderated rooms', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start(MODULES);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
  });
  afterEach(async () => {
    await ts.stop();
  });

  const join = (c: TestClient, nick: string, extra = ''): Promise<XmlElement> => joinRoom(c, ROOM, nick, extra);
  const createInstant = (c: TestClient, nick: string): Promise<XmlElement> => createRoom(c, ROOM, nick);
  const configure = (c: TestClient, fields: Record<string, string>): Promise<XmlElement> => configureRoom(c, ROOM, fields);

  it('kicks (307) and bans (301); a banned user cannot come back', async () => {
    await createInstant(alice, 'Alice');
    await join(bob, 'Bob');
    const kick = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item nick='Bob' role='none'><reason>bye</reason></item></query></iq>`);
    expect(kick.attrs.type, kick.toString()).to.equal('result');
    const kicked = await bob.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable'));
    expect(codes(kicked)).to.include.members(['307', '110']);
    expect(kicked.getChild('x', NS_MUC_USER)!.getChild('item')!.getChildText('reason')).to.equal('bye');
    expect(codes(await alice.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable')))).to.include('307');
    bob.clear();
    alice.clear();
    await join(bob, 'Bob');
    const ban = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='bob@localhost' affiliation='outcast'/></query></iq>`);
    expect(ban.attrs.type).to.equal('result');
    expect(codes(await bob.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable')))).to.include('301');
    bob.clear();
    const back = await join(bob, 'Bob');
    expect(condition(back)).to.equal('forbidden');
    const list = await alice.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item affiliation='outcast'/></query></iq>`);
    expect(list.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['bob@localhost']);
  });

  it('bans an account from every nick it is in the room under (two clients, two nicks)', async () => {
    await createInstant(alice, 'Alice');
    const phone = await ts.login('bob@localhost/phone');
    await join(bob, 'Bob');
    await joinRoom(phone, ROOM, 'Bobby');
    const ban = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='bob@localhost' affiliation='outcast'/></query></iq>`);
    expect(ban.attrs.type).to.equal('result');
    expect(codes(await bob.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable')))).to.include('301');
    expect(codes(await phone.waitFor(presenceFrom(`${ROOM}/Bobby`, (p) => p.attrs.type === 'unavailable')))).to.include('301');
    await phone.send(`<message type='groupchat' to='${ROOM}' id='late'><body>still here?</body></message>`);
    expect(condition(await phone.waitFor((m) => m.name === 'message' && m.attrs.id === 'late'))).to.equal('not-acceptable');
    expect(alice.all((m) => m.getChildText('body') === 'still here?')).to.deep.equal([]);
  });

  it('lets only moderators kick, and never an owner', async () => {
    await createInstant(alice, 'Alice');
    await join(bob, 'Bob');
    const r = await bob.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item nick='Alice' role='none'/></query></iq>`);
    expect(r.attrs.type).to.equal('error');
    expect(condition(r)).to.equal('forbidden');
    const last = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='alice@localhost' affiliation='member'/></query></iq>`);
    expect(condition(last)).to.equal('conflict');
  });

  it('members-only rooms refuse non-members (registration-required) and admit members', async () => {
    await join(alice, 'Alice');
    expect((await configure(alice, { 'muc#roomconfig_membersonly': '1' })).attrs.type).to.equal('result');
    const refused = await join(bob, 'Bob');
    expect(condition(refused)).to.equal('registration-required');
    const r = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='bob@localhost' affiliation='member'/></query></iq>`);
    expect(r.attrs.type).to.equal('result');
    bob.clear();
    const ok = await join(bob, 'Bob');
    expect(item(ok)).to.include({ affiliation: 'member', role: 'participant' });
    // Members may read the member list, but in a semi-anonymous room it does not say which nick is whose.
    const carol = await ts.login('carol@localhost/c');
    await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='carol@localhost' affiliation='member'/></query></iq>`);
    await join(carol, 'Anon');
    const members = async (c: TestClient) => (await c.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item affiliation='member'/></query></iq>`)).getChild('query')!.getChildren('item');
    expect((await members(bob)).map((i) => [i.attrs.jid, i.attrs.nick])).to.deep.equal([['bob@localhost', undefined], ['carol@localhost', undefined]]);
    expect((await members(alice)).find((i) => i.attrs.jid === 'carol@localhost')?.attrs.nick).to.equal('Anon');
    // Membership revoked while present: removed with 321.
    await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='bob@localhost' affiliation='none'/></query></iq>`);
    expect(codes(await bob.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable')))).to.include('321');
  });

  it('a full room (maxusers) refuses a newcomer with service-unavailable and still admits its owner (§7.2.9)', async () => {
    await join(alice, 'Alice');
    expect((await configure(alice, { 'muc#roomconfig_maxusers': '2' })).attrs.type).to.equal('result');
    expect((await join(bob, 'Bob')).attrs.type).to.equal(undefined);
    const carol = await ts.login('carol@localhost/c');
    const refused = await join(carol, 'Carol');
    expect(refused.attrs.type).to.equal('error');
    expect(condition(refused)).to.equal('service-unavailable');
    expect(refused.getChild('x', NS_MUC), 'the error echoes the join payload').to.not.equal(undefined);
    // The room is unchanged: the owner's second client joins under the same nick, and the count stays 2.
    const alice2 = await ts.login('alice@localhost/a2');
    expect((await join(alice2, 'Alice')).attrs.type).to.equal(undefined);
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='${DISCO_INFO}'/></iq>`);
    const occupants = info.getChild('query')!.getChild('x', 'jabber:x:data')!.getChildren('field').find((f) => f.attrs.var === 'muc#roominfo_occupants');
    expect(occupants?.getChildText('value')).to.equal('2');
  });

  it('password-protected rooms need the password', async () => {
    await join(alice, 'Alice');
    expect((await configure(alice, { 'muc#roomconfig_passwordprotectedroom': '1', 'muc#roomconfig_roomsecret': 's3cret' })).attrs.type).to.equal('result');
    expect(condition(await join(bob, 'Bob'))).to.equal('not-authorized');
    bob.clear();
    const ok = await join(bob, 'Bob', '<password>s3cret</password>');
    expect(ok.attrs.type).to.equal(undefined);
  });

  it('non-anonymous rooms show JIDs to everyone and say so with 100; config changes are announced with 104/172', async () => {
    await createInstant(alice, 'Alice');
    await join(bob, 'Bob');
    expect((await configure(alice, { 'muc#roomconfig_whois': 'anyone' })).attrs.type).to.equal('result');
    const notice = await bob.waitFor((el) => el.name === 'message' && el.attrs.from === ROOM && codes(el).length > 0);
    expect(codes(notice)).to.include.members(['104', '172']);
    const carol = await ts.login('carol@localhost/c');
    const self = await join(carol, 'Carol');
    expect(codes(self)).to.include('100');
    expect(item(carol.received.find(presenceFrom(`${ROOM}/Alice`))!).jid).to.equal('alice@localhost/a');
    // And when someone leaves (§7.14), whose session it was.
    await bob.send(`<presence to='${ROOM}/Bob' type='unavailable'/>`);
    expect(item(await carol.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable'))).jid).to.equal('bob@localhost/b');
  });

  it('moderated rooms: visitors cannot speak until given voice', async () => {
    await join(alice, 'Alice');
    expect((await configure(alice, { 'muc#roomconfig_moderatedroom': '1' })).attrs.type).to.equal('result');
    const self = await join(bob, 'Bob');
    expect(item(self).role).to.equal('visitor');
    await bob.send(`<message type='groupchat' to='${ROOM}'><body>can I?</body></message>`);
    expect(condition(await bob.waitFor((el) => el.name === 'message' && el.attrs.type === 'error'))).to.equal('forbidden');
    const voice = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item nick='Bob' role='participant'/></query></iq>`);
    expect(voice.attrs.type).to.equal('result');
    expect(item(await bob.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => item(p).role === 'participant')))).to.include({ role: 'participant' });
    await bob.send(`<message type='groupchat' to='${ROOM}'><body>now I can</body></message>`);
    await alice.waitFor((el) => el.getChildText('body') === 'now I can');
  });
});
