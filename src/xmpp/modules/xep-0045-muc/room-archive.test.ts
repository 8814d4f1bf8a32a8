import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from './index.js';
import { createInstantRoom, joinRoom, roomArchive, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const NS_MAM = 'urn:xmpp:mam:2';

let queries = 0;
/** A room archive query with the given form fields and extra children: the bodies received in order and the iq result (or error). */
async function query(reader: TestClient, fields: Record<string, string[]>, extra = ''): Promise<{ bodies: string[]; iq: XmlElement }> {
  const queryid = `x${queries++}`;
  const f = Object.entries(fields)
    .map(([k, vs]) => `<field var='${k}'>${vs.map((v) => `<value>${v}</value>`).join('')}</field>`)
    .join('');
  const iq = await reader.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MAM}' queryid='${queryid}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field>${f}</x>${extra}</query></iq>`);
  const bodies = reader.received
    .filter((m) => m.getChild('result', NS_MAM)?.attrs.queryid === queryid)
    .map((m) => m.getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? '');
  return { bodies, iq };
}
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;

describe('XEP-0313 #extended on a room archive', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  /** Archive ids of m1..m4, in order. */
  let ids: string[];

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
    await joinRoom(bob, ROOM, 'Bob');
    ids = [];
    for (const body of ['m1', 'm2', 'm3', 'm4']) {
      await alice.send(`<message type='groupchat' to='${ROOM}'><body>${body}</body></message>`);
      const echo = await alice.waitFor((el) => el.getChildText('body') === body);
      ids.push(echo.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!);
    }
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('advertises urn:xmpp:mam:2#extended and offers the ids, before-id and after-id fields', async () => {
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include.members([NS_MAM, `${NS_MAM}#extended`]);
    const form = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='${NS_MAM}'/></iq>`);
    const vars = form.getChild('query', NS_MAM)?.getChild('x', 'jabber:x:data')?.getChildren('field').map((f) => f.attrs.var);
    expect(vars, form.toString()).to.include.members(['with', 'start', 'end', 'before-id', 'after-id', 'ids']);
  });

  it('gives the messages asked for by ids, in archive order, and item-not-found for an id it does not hold', async () => {
    const r = await query(bob, { ids: [ids[2]!, ids[0]!] });
    expect(r.iq.attrs.type, r.iq.toString()).to.equal('result');
    expect(r.bodies).to.deep.equal(['m1', 'm3']);
    const missing = await query(bob, { ids: [ids[0]!, '0000000000000000'] });
    expect(condition(missing.iq), missing.iq.toString()).to.equal('item-not-found');
  });

  it('combines ids with the other filters (with, after-id)', async () => {
    await bob.send(`<message type='groupchat' to='${ROOM}'><body>b1</body></message>`);
    const echo = await bob.waitFor((el) => el.getChildText('body') === 'b1');
    const bobId = echo.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!;
    expect((await query(bob, { ids: [ids[1]!, bobId], with: [`${ROOM}/Bob`] })).bodies).to.deep.equal(['b1']);
    expect((await query(bob, { ids: [ids[0]!, ids[3]!], 'after-id': [ids[1]!] })).bodies).to.deep.equal(['m4']);
  });

  it('pages between two ids with after-id and before-id, and flips a page on request', async () => {
    expect((await query(bob, { 'after-id': [ids[0]!], 'before-id': [ids[3]!] })).bodies).to.deep.equal(['m2', 'm3']);
    expect((await query(bob, { 'after-id': [ids[0]!] }, '<flip-page/>')).bodies).to.deep.equal(['m4', 'm3', 'm2']);
  });

  it('answers the archive metadata with its first and last message (§5)', async () => {
    const md = await bob.iq(`<iq type='get' to='${ROOM}'><metadata xmlns='${NS_MAM}'/></iq>`);
    expect(md.attrs.type, md.toString()).to.equal('result');
    const meta = md.getChild('metadata', NS_MAM)!;
    expect(meta.getChild('start')?.attrs.id).to.equal(ids[0]);
    expect(meta.getChild('end')?.attrs.id).to.equal(ids[3]);
  });

  it('keeps the archive from who may not read it, metadata included', async () => {
    const form = `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_membersonly'><value>1</value></field>`;
    const result = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${form}</x></query></iq>`);
    expect(result.attrs.type, result.toString()).to.equal('result');
    const carol = await ts.login('carol@localhost/c');
    const md = await carol.iq(`<iq type='get' to='${ROOM}'><metadata xmlns='${NS_MAM}'/></iq>`);
    expect(condition(md), md.toString()).to.equal('forbidden');
    expect(condition((await query(carol, { ids: [ids[0]!] })).iq)).to.equal('forbidden');
  });
});

describe('XEP-0313 on a room archive with RSM max=0: the item count (XEP-0059 §2.7)', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  afterEach(() => ts?.stop());

  /** Alice's room with m1..m3 from Alice and b1 from Bob; their archive ids, in order. */
  async function start(options: Record<string, unknown> = {}): Promise<string[]> {
    ts = await TestServer.start([roster, presence, disco, muc], { modules: { options: { muc: options } } });
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
    await createInstantRoom(alice, ROOM, 'Alice');
    await joinRoom(bob, ROOM, 'Bob');
    const ids: string[] = [];
    for (const [who, body] of [[alice, 'm1'], [alice, 'm2'], [bob, 'b1'], [alice, 'm3']] as const) {
      await who.send(`<message type='groupchat' to='${ROOM}'><body>${body}</body></message>`);
      ids.push((await who.waitFor((el) => el.getChildText('body') === body)).getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!);
    }
    return ids;
  }
  const rsm = (inner: string) => `<set xmlns='http://jabber.org/protocol/rsm'>${inner}</set>`;
  const countOf = (iq: XmlElement) => iq.getChild('fin', NS_MAM)?.getChild('set')?.getChildText('count');

  it('answers max=0 with the count of what the form selects for this reader, and no messages', async () => {
    const ids = await start();
    const all = await query(bob, {}, rsm('<max>0</max>'));
    expect(all.bodies).to.deep.equal([]);
    expect(countOf(all.iq), all.iq.toString()).to.equal('4');
    // The room's own JID matches every message; an occupant JID what was sent under that nick.
    expect(countOf((await query(bob, { with: [ROOM] }, rsm('<max>0</max>'))).iq)).to.equal('4');
    expect(countOf((await query(bob, { with: [`${ROOM}/Bob`] }, rsm('<max>0</max>'))).iq)).to.equal('1');
    expect(countOf((await query(bob, { with: [`${ROOM}/Nobody`] }, rsm('<max>0</max>'))).iq)).to.equal('0');
    expect(countOf((await query(bob, { 'after-id': [ids[0]!] }, rsm('<max>0</max>'))).iq)).to.equal('3');
    expect(countOf((await query(bob, { ids: [ids[0]!, ids[2]!] }, rsm('<max>0</max>'))).iq)).to.equal('2');
    // RSM after pages through the set; the count stays the set's.
    expect(countOf((await query(bob, {}, rsm(`<max>0</max><after>${ids[1]!}</after>`))).iq)).to.equal('4');
  });

  it('counts up to countLimit messages and leaves <count/> out beyond; ordinary pages never count', async () => {
    await start({ countLimit: 4 });
    expect(countOf((await query(bob, {}, rsm('<max>0</max>'))).iq)).to.equal('4');
    const page = await query(bob, {}, rsm('<max>10</max>'));
    expect(page.bodies).to.deep.equal(['m1', 'm2', 'b1', 'm3']);
    expect(countOf(page.iq)).to.equal(undefined);
    await ts.stop();
    await start({ countLimit: 3 });
    const over = await query(bob, {}, rsm('<max>0</max>'));
    expect(over.iq.attrs.type).to.equal('result');
    expect(countOf(over.iq)).to.equal(undefined);
  });
});

describe("XEP-0313 on a room archive: the senders' real JIDs (§5.1.2)", () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  afterEach(() => ts?.stop());

  /** The item JIDs on each archived message as `reader` gets them (undefined: no muc#user item). */
  async function senders(reader: TestClient): Promise<(string | undefined)[]> {
    return (await roomArchive(reader, ROOM)).map((m) => m.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChild('item')?.attrs.jid);
  }

  async function start(whois: 'anyone' | 'moderators'): Promise<void> {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
    const form = `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_whois'><value>${whois}</value></field>`;
    const result = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${form}</x></query></iq>`);
    expect(result.attrs.type, result.toString()).to.equal('result');
    await joinRoom(bob, ROOM, 'Bob');
    for (const [who, body] of [[alice, 'from alice'], [bob, 'from bob']] as const) {
      await who.send(`<message type='groupchat' to='${ROOM}'><body>${body}</body><x xmlns='http://jabber.org/protocol/muc#user'><item jid='forged@localhost'/></x></message>`);
      await who.waitFor((el) => el.getChildText('body') === body);
    }
  }

  it("gives every occupant of a non-anonymous room each sender's real JID, never one the sender wrote", async () => {
    await start('anyone');
    expect(await senders(bob)).to.deep.equal(['alice@localhost', 'bob@localhost']);
    expect(await senders(alice)).to.deep.equal(['alice@localhost', 'bob@localhost']);
  });

  it('gives them in a semi-anonymous room to moderators only', async () => {
    await start('moderators');
    expect(await senders(alice)).to.deep.equal(['alice@localhost', 'bob@localhost']);
    expect(await senders(bob)).to.deep.equal([undefined, undefined]);
  });
});
