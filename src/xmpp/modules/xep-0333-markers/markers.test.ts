import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import mam from '../xep-0313-mam/index.js';
import carbons, { NS_CARBONS, unwrapCarbon } from '../xep-0280-carbons/index.js';
import markers, { NS_MARKERS } from './index.js';

const NS_MAM = 'urn:xmpp:mam:2';

/** The messages of `c`'s archive, through a MAM query as a client makes it. */
async function archived(c: TestClient, queryid: string): Promise<XmlElement[]> {
  const fin = await c.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='${queryid}'/></iq>`);
  expect(fin.attrs.type).to.equal('result');
  return c
    .all((s) => s.name === 'message' && s.getChild('result', NS_MAM)?.attrs.queryid === queryid)
    .map((s) => s.getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!);
}

describe('XEP-0333 chat markers', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bobPhone: TestClient;
  let bobDesk: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, mam, carbons, markers]);
    alice = await ts.login('alice@localhost/one');
    bobPhone = await ts.login('bob@localhost/phone');
    bobDesk = await ts.login('bob@localhost/desk');
    for (const c of [alice, bobPhone, bobDesk]) await c.send('<presence/>');
    for (const c of [bobPhone, bobDesk]) await c.iq(`<iq type='set'><enable xmlns='${NS_CARBONS}'/></iq>`);
  });
  afterEach(() => ts.stop());

  it('advertises urn:xmpp:chat-markers:0', () => {
    expect(ts.server.features()).to.include(NS_MARKERS);
    expect(ts.server.accountFeatures()).to.include(NS_MARKERS);
  });

  it('routes markers unchanged, archives them for both parties and copies them to the other device', async () => {
    await alice.send(`<message type='chat' id='m-1' to='bob@localhost/phone'><body>hello</body><markable xmlns='${NS_MARKERS}'/></message>`);
    const markable = await bobPhone.waitFor((s) => s.getChildText('body') === 'hello');
    expect(markable.getChild('markable', NS_MARKERS)).to.not.equal(undefined);

    await bobPhone.send(`<message type='chat' id='d-1' to='alice@localhost/one'><displayed xmlns='${NS_MARKERS}' id='m-1'/></message>`);
    // Routed: alice receives the marker as sent.
    const marker = await alice.waitFor((s) => s.name === 'message' && s.getChild('displayed', NS_MARKERS) !== undefined);
    expect(marker.getChild('displayed', NS_MARKERS)!.attrs.id).to.equal('m-1');
    expect(marker.attrs.from).to.equal('bob@localhost/phone');

    // Carbon-copied: bob's desk learns the message was read on the phone.
    const copy = bobDesk.all((s) => unwrapCarbon(s)?.kind === 'sent')[0];
    expect(copy, 'sent carbon of the marker on bob/desk').to.not.equal(undefined);
    expect(unwrapCarbon(copy!)!.message.getChild('displayed', NS_MARKERS)!.attrs.id).to.equal('m-1');
    // bob/desk also got a received carbon of the markable message.
    expect(bobDesk.all((s) => unwrapCarbon(s)?.kind === 'received' && unwrapCarbon(s)!.message.getChildText('body') === 'hello')).to.have.length(1);

    // Archived for both parties.
    const inAlice = await archived(alice, 'qa');
    expect(inAlice.map((m) => m.getChild('displayed', NS_MARKERS)?.attrs.id)).to.include('m-1');
    const inBob = await archived(bobDesk, 'qb');
    expect(inBob.map((m) => m.getChild('displayed', NS_MARKERS)?.attrs.id)).to.include('m-1');
    expect(inBob.map((m) => m.getChildText('body'))).to.include('hello');
  });

  it('copies a type normal marker too (bodiless normal messages with markers count)', async () => {
    await bobPhone.send(`<message to='alice@localhost' id='r-1'><received xmlns='${NS_MARKERS}' id='m-9'/></message>`);
    await alice.waitFor((s) => s.getChild('received', NS_MARKERS) !== undefined);
    expect(bobDesk.all((s) => unwrapCarbon(s)?.message.getChild('received', NS_MARKERS)?.attrs.id === 'm-9')).to.have.length(1);
  });
});
