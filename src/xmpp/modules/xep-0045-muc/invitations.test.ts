import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC_OWNER, NS_MUC_USER } from './index.js';
import { joinRoom, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const isInvite = (el: XmlElement) => el.name === 'message' && el.getChild('x', NS_MUC_USER)?.getChild('invite') !== undefined;

describe('XEP-0045 §7.8.2 mediated invitations and muc#roomconfig_allowinvites', () => {
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

  const allowInvites = (value: '0' | '1') =>
    alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_allowinvites'><value>${value}</value></field></x></query></iq>`);
  const invite = (from: TestClient, id: string) => from.send(`<message to='${ROOM}' id='${id}'><x xmlns='${NS_MUC_USER}'><invite to='carol@localhost/c'/></x></message>`);

  it('refuses a participant of an open room when occupants may not invite (forbidden), and sends nothing', async () => {
    expect((await allowInvites('0')).attrs.type).to.equal('result');
    await joinRoom(bob, ROOM, 'Bob');
    await invite(bob, 'inv1');
    const err = await bob.waitFor((el) => el.name === 'message' && el.attrs.id === 'inv1');
    expect(err.attrs.type, err.toString()).to.equal('error');
    expect(err.getChild('error')?.elements()[0]?.name).to.equal('forbidden');
    await new Promise((r) => setTimeout(r, 50));
    expect(carol.all(isInvite)).to.have.length(0);
  });

  it('relays a participant\'s invitation when occupants may invite, and an admin\'s in any case', async () => {
    expect((await allowInvites('1')).attrs.type).to.equal('result');
    await joinRoom(bob, ROOM, 'Bob');
    await invite(bob, 'inv2');
    const fromBob = await carol.waitFor(isInvite);
    expect(fromBob.getChild('x', NS_MUC_USER)!.getChild('invite')!.attrs.from).to.equal('bob@localhost/b');
    carol.clear();
    expect((await allowInvites('0')).attrs.type).to.equal('result');
    await invite(alice, 'inv3');
    const fromAlice = await carol.waitFor(isInvite);
    expect(fromAlice.getChild('x', NS_MUC_USER)!.getChild('invite')!.attrs.from).to.equal('alice@localhost/a');
  });

  it('makes nobody a member when the store cannot keep the invitee of a members-only room: the inviter is told wait, and the invitee stays out', async () => {
    const configure = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>`,
    );
    expect(configure.attrs.type, configure.toString()).to.equal('result');
    ts.store.failing = new Error('down');
    const refused = await (async () => {
      try {
        await invite(alice, 'inv4');
        return await alice.waitFor((el) => el.name === 'message' && el.attrs.id === 'inv4');
      } finally {
        ts.store.failing = null;
      }
    })();
    expect(refused.attrs.type, refused.toString()).to.equal('error');
    expect(refused.getChild('error')!.attrs.type).to.equal('wait');
    expect(carol.all(isInvite), 'no invitation for a membership that was not kept').to.have.length(0);
    // The error said nothing changed: the live room must not hold a member the store does not know.
    const self = await joinRoom(carol, ROOM, 'Carol');
    expect(self.attrs.type, self.toString()).to.equal('error');
    expect(self.getChild('error')?.elements()[0]?.name).to.equal('registration-required');
  });

  it('makes none of several invitees a member when the store keeps only the first: the invitation fails as a whole', async () => {
    const configure = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>`,
    );
    expect(configure.attrs.type, configure.toString()).to.equal('result');
    // The store takes the first membership and fails on the second (a throttled backend).
    const put = ts.store.put.bind(ts.store);
    let affiliationWrites = 0;
    ts.store.put = (table, pk, sk, value, options) => (table === 'muc_affiliations' && ++affiliationWrites === 2 ? Promise.reject(new Error('throttled')) : put(table, pk, sk, value, options));
    const refused = await (async () => {
      try {
        await alice.send(`<message to='${ROOM}' id='inv5'><x xmlns='${NS_MUC_USER}'><invite to='carol@localhost/c'/><invite to='dave@localhost'/></x></message>`);
        return await alice.waitFor((el) => el.name === 'message' && el.attrs.id === 'inv5');
      } finally {
        ts.store.put = put;
      }
    })();
    expect(refused.attrs.type, refused.toString()).to.equal('error');
    const self = await joinRoom(carol, ROOM, 'Carol');
    expect(self.getChild('error')?.elements()[0]?.name, self.toString()).to.equal('registration-required');
    const rows = (await ts.store.range('muc_affiliations', ROOM)).map((r) => r.sk);
    expect(rows, 'the membership written first is taken back').to.deep.equal(['alice@localhost']);
  });
});
