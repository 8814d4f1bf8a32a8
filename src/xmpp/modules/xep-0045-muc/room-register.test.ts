import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC_ADMIN } from './ns.js';
import { configureRoom, errorCondition as condition, joinRoom, occupantItem, presenceFrom, startWithRoom, statusCodes as codes } from './test-support.js';
import disco from '../xep-0030-disco/index.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import muc from './index.js';

const ROOM = 'room@conference.localhost';
const NS_REGISTER = 'jabber:iq:register';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const MUC_REGISTER = 'http://jabber.org/protocol/muc#register';

const getRegistration = (c: TestClient): Promise<XmlElement> => c.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_REGISTER}'/></iq>`);
/** Submits the muc#register form with `nick`, as Converse, Gajim and Smack do (§7.10). */
const register = (c: TestClient, nick: string): Promise<XmlElement> =>
  c.iq(
    `<iq type='set' to='${ROOM}'><query xmlns='${NS_REGISTER}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>${MUC_REGISTER}</value></field><field var='muc#register_roomnick'><value>${nick}</value></field></x></query></iq>`,
  );
const unregister = (c: TestClient): Promise<XmlElement> => c.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_REGISTER}'><remove/></query></iq>`);
/** The nick the room says `c` reserved (§7.12), undefined for the empty answer. */
async function reservedNick(c: TestClient): Promise<string | undefined> {
  const r = ok(await c.iq(`<iq type='get' to='${ROOM}'><query xmlns='${DISCO_INFO}' node='x-roomuser-item'/></iq>`));
  const identities = r.getChild('query', DISCO_INFO)!.getChildren('identity');
  expect(identities.length).to.be.at.most(1);
  if (identities[0] !== undefined) expect(identities[0].attrs).to.include({ category: 'conference', type: 'text' });
  return identities[0]?.attrs.name;
}
const ok = (r: XmlElement): XmlElement => {
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r;
};
const setAffiliation = async (owner: TestClient, jid: string, affiliation: string): Promise<void> => {
  ok(await owner.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='${jid}' affiliation='${affiliation}'/></query></iq>`));
};
/** The members list as an owner reads it (§9.5): jid → nick. */
async function members(owner: TestClient): Promise<Record<string, string | undefined>> {
  const r = ok(await owner.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item affiliation='member'/></query></iq>`));
  return Object.fromEntries(r.getChild('query', NS_MUC_ADMIN)!.getChildren('item').map((i) => [i.attrs.jid!, i.attrs.nick]));
}

/** XEP-0045 §7.10 registering with a room, and the reserved nick it gives (§7.12). */
describe('XEP-0045 §7.10 registering with a room', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob, carol] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b', 'carol@localhost/c']));
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('advertises jabber:iq:register and gives a user the muc#register form with a nickname field', async () => {
    const info = ok(await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='${DISCO_INFO}'/></iq>`));
    expect(info.getChild('query', DISCO_INFO)!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_REGISTER);
    const q = ok(await getRegistration(bob)).getChild('query', NS_REGISTER)!;
    expect(q.getChild('registered'), 'not registered yet').to.equal(undefined);
    const form = q.getChild('x', 'jabber:x:data')!;
    expect(form.attrs.type).to.equal('form');
    const fields = form.getChildren('field');
    expect(fields.find((f) => f.attrs.var === 'FORM_TYPE')!.getChildText('value')).to.equal(MUC_REGISTER);
    const nick = fields.find((f) => f.attrs.var === 'muc#register_roomnick')!;
    expect(nick.attrs.type).to.equal('text-single');
    expect(nick.getChild('required')).to.not.equal(undefined);
  });

  it('makes a registered user a member holding the nick: the occupants see it, x-roomuser-item and a second get return it', async () => {
    await joinRoom(bob, ROOM, 'Bob');
    expect(await reservedNick(bob)).to.equal(undefined);
    ok(await register(bob, 'Bobby'));
    // §7.10: a user in the room is shown to everyone with its new affiliation.
    const shown = await alice.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => occupantItem(p).affiliation === 'member'));
    expect(occupantItem(shown).role).to.equal('participant');
    expect(await reservedNick(bob)).to.equal('Bobby');
    expect(await reservedNick(carol), 'a nick is reserved for whoever registered it only').to.equal(undefined);
    const q = ok(await getRegistration(bob)).getChild('query', NS_REGISTER)!;
    expect(q.getChild('registered'), 'XEP-0077 §3.1: already registered').to.not.equal(undefined);
    expect(q.getChildText('username')).to.equal('Bobby');
    expect(await members(alice)).to.deep.equal({ 'bob@localhost': 'Bob' });
    await bob.send(`<presence type='unavailable' to='${ROOM}/Bob'/>`);
    await alice.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable'));
    expect(await members(alice), 'away, the member list names the nick it registered (§9.5)').to.deep.equal({ 'bob@localhost': 'Bobby' });
    // A second registration changes the nick.
    ok(await register(bob, 'Robert'));
    expect(await reservedNick(bob)).to.equal('Robert');
    expect(condition(await joinRoom(carol, ROOM, 'Bobby')), 'the old nick is free again').to.equal(undefined);
  });

  it('refuses the reserved nick to anyone else with conflict, at join and at a nick change, and lets its holder in with it', async () => {
    ok(await register(bob, 'Bobby'));
    expect(condition(await joinRoom(carol, ROOM, 'Bobby'))).to.equal('conflict');
    await joinRoom(carol, ROOM, 'Carol');
    await carol.send(`<presence to='${ROOM}/Bobby'/>`);
    const refused = await carol.waitFor((p) => p.name === 'presence' && p.attrs.from === `${ROOM}/Bobby` && p.attrs.type === 'error');
    expect(condition(refused)).to.equal('conflict');
    const self = await joinRoom(bob, ROOM, 'Bobby');
    expect(self.attrs.type, self.toString()).to.equal(undefined);
    expect(occupantItem(self).affiliation).to.equal('member');
  });

  it('answers conflict to a nick another user reserved or is in the room with, and bad forms with an error', async () => {
    ok(await register(bob, 'Bobby'));
    expect(condition(await register(carol, 'Bobby')), 'reserved by bob').to.equal('conflict');
    expect(condition(await register(carol, 'Alice')), "alice's nick in the room").to.equal('conflict');
    expect(await reservedNick(carol)).to.equal(undefined);
    expect(condition(await register(carol, ' '))).to.equal('not-acceptable');
    const noForm = await carol.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_REGISTER}'><username>Carol</username></query></iq>`);
    expect(condition(noForm), '§7.10: no valid data form').to.equal('bad-request');
    expect(await members(alice)).to.deep.equal({ 'bob@localhost': 'Bobby' });
  });

  it('refuses an outcast with forbidden, and frees the nick of a registered user who is banned', async () => {
    ok(await register(carol, 'Cee'));
    await setAffiliation(alice, 'carol@localhost', 'outcast');
    expect(condition(await getRegistration(carol))).to.equal('forbidden');
    expect(condition(await register(carol, 'Cee'))).to.equal('forbidden');
    expect(condition(await joinRoom(bob, ROOM, 'Cee')), 'a ban frees the nick').to.equal(undefined);
  });

  it('in a members-only room registers only users on the member list (not-allowed otherwise); a member who unregisters while in it leaves with 321', async () => {
    ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_membersonly': '1' }));
    expect(condition(await getRegistration(carol))).to.equal('not-allowed');
    expect(condition(await register(carol, 'Carol'))).to.equal('not-allowed');
    expect(condition(await joinRoom(carol, ROOM, 'Carol')), 'still not a member').to.equal('registration-required');

    await setAffiliation(alice, 'bob@localhost', 'member');
    ok(await register(bob, 'Bobby'));
    expect(await reservedNick(bob)).to.equal('Bobby');
    await joinRoom(bob, ROOM, 'Bobby');
    ok(await unregister(bob));
    const gone = await alice.waitFor(presenceFrom(`${ROOM}/Bobby`, (p) => p.attrs.type === 'unavailable'));
    expect(codes(gone)).to.include('321');
    const told = await bob.waitFor(presenceFrom(`${ROOM}/Bobby`, (p) => p.attrs.type === 'unavailable'));
    expect(codes(told), 'bob hears why he left').to.include.members(['110', '321']);
    bob.clear();
    expect(condition(await joinRoom(bob, ROOM, 'Bobby'))).to.equal('registration-required');
  });

  it('cancels a registration with <remove/>: the nick is free and the member is no longer one; an owner keeps its affiliation', async () => {
    expect(condition(await unregister(bob)), 'XEP-0077 §3.2: nothing to cancel').to.equal('registration-required');
    ok(await register(bob, 'Bobby'));
    ok(await unregister(bob));
    expect(await reservedNick(bob)).to.equal(undefined);
    expect(ok(await getRegistration(bob)).getChild('query', NS_REGISTER)!.getChild('registered')).to.equal(undefined);
    expect(await members(alice)).to.deep.equal({});
    expect(condition(await joinRoom(carol, ROOM, 'Bobby'))).to.equal(undefined);

    ok(await register(alice, 'TheOwner'));
    expect(await reservedNick(alice)).to.equal('TheOwner');
    ok(await unregister(alice));
    expect(await reservedNick(alice)).to.equal(undefined);
    const owners = ok(await alice.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item affiliation='owner'/></query></iq>`));
    expect(owners.getChild('query', NS_MUC_ADMIN)!.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['alice@localhost']);
  });

  it('keeps the reserved nick of a persistent room across a restart, with the affiliation', async () => {
    ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' }));
    ok(await register(bob, 'Bobby'));
    // Admin changes keep the nick: an admin still holds it.
    await setAffiliation(alice, 'bob@localhost', 'admin');
    const store = ts.store;
    await ts.stop();
    ts = await TestServer.start([roster, presence, disco, muc], {}, store);
    const bob2 = await ts.login('bob@localhost/b');
    const carol2 = await ts.login('carol@localhost/c');
    expect(await reservedNick(bob2)).to.equal('Bobby');
    expect(condition(await joinRoom(carol2, ROOM, 'Bobby'))).to.equal('conflict');
    const self = await joinRoom(bob2, ROOM, 'Bobby');
    expect(occupantItem(self).affiliation).to.equal('admin');
  });
});
