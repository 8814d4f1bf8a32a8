import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import disco from '../xep-0030-disco/index.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import muc from './index.js';
import { NS_MUC_ADMIN, NS_MUC_OWNER } from './ns.js';
import { configureRoom, errorCondition as condition, joinRoom, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';

const ok = (r: XmlElement): XmlElement => {
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r;
};
const register = async (c: TestClient, nick: string): Promise<void> => {
  ok(
    await c.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>${nick}</value></field></x></query></iq>`,
    ),
  );
};
const setAffiliation = async (owner: TestClient, jid: string, affiliation: string): Promise<void> => {
  ok(await owner.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='${jid}' affiliation='${affiliation}'/></query></iq>`));
};
async function reservedNick(c: TestClient): Promise<string | undefined> {
  const r = ok(await c.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`));
  return r.getChild('query')!.getChild('identity')?.attrs.name;
}
const rows = async (ts: TestServer, table: string): Promise<Record<string, string>> => Object.fromEntries((await ts.store.range(table, ROOM)).map((r) => [r.sk, r.value]));

/**
 * The room's affiliations as a node on the release before registration reads them: a row whose value is
 * not a plain affiliation is skipped, and that node's whole-room save deletes it (see git show 2113621^:store.ts).
 */
async function olderNodeAffiliations(ts: TestServer): Promise<Record<string, string>> {
  const known = new Set(['owner', 'admin', 'member', 'outcast']);
  return Object.fromEntries(Object.entries(await rows(ts, 'muc_affiliations')).filter(([, v]) => known.has(v)));
}

/** Reserved nicks (§7.10) in storage: a cluster upgraded node by node still runs older nodes on the same tables. */
describe('XEP-0045 §7.10 reserved nicks in storage', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob, carol] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b', 'carol@localhost/c']));
    ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' }));
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('keeps affiliation rows plain, so a node on the previous release keeps every member, registered ones included', async () => {
    await register(bob, 'Bobby');
    await register(alice, 'TheOwner');
    await setAffiliation(alice, 'carol@localhost', 'member');
    const everyone = { 'alice@localhost': 'owner', 'bob@localhost': 'member', 'carol@localhost': 'member' };
    expect(await rows(ts, 'muc_affiliations'), 'as registration writes them').to.deep.equal(everyone);
    expect(await olderNodeAffiliations(ts)).to.deep.equal(everyone);
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({ 'alice@localhost': 'TheOwner', 'bob@localhost': 'Bobby' });
    // A configuration change writes the whole room.
    ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_roomname': 'Renamed' }));
    expect(await rows(ts, 'muc_affiliations'), 'as a whole-room save writes them').to.deep.equal(everyone);
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({ 'alice@localhost': 'TheOwner', 'bob@localhost': 'Bobby' });
  });

  it("deletes a banned user's nick row, and the room's nick rows when it is destroyed", async () => {
    await register(bob, 'Bobby');
    await register(carol, 'Cee');
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({ 'bob@localhost': 'Bobby', 'carol@localhost': 'Cee' });
    await setAffiliation(alice, 'carol@localhost', 'outcast');
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({ 'bob@localhost': 'Bobby' });
    ok(await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><destroy/></query></iq>`));
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({});
  });

  it('reads a nick kept in the JSON affiliation row of an unreleased build, and rewrites the row plain', async () => {
    await ts.store.put('muc_affiliations', ROOM, 'bob@localhost', JSON.stringify({ affiliation: 'member', nick: 'Bobby' }));
    const store = ts.store;
    await ts.stop();
    ts = await TestServer.start([roster, presence, disco, muc], {}, store);
    const [alice2, bob2, carol2] = [await ts.login('alice@localhost/a'), await ts.login('bob@localhost/b'), await ts.login('carol@localhost/c')];
    expect(await reservedNick(bob2)).to.equal('Bobby');
    expect(condition(await joinRoom(carol2, ROOM, 'Bobby'))).to.equal('conflict');
    ok(await configureRoom(alice2, ROOM, { 'muc#roomconfig_roomname': 'Renamed' }));
    expect(await rows(ts, 'muc_affiliations')).to.deep.equal({ 'alice@localhost': 'owner', 'bob@localhost': 'member' });
    expect(await rows(ts, 'muc_nicks')).to.deep.equal({ 'bob@localhost': 'Bobby' });
  });
});
