import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import sm, { NS_SM } from '../xep-0198-sm/index.js';
import offline from '../xep-0160-offline/index.js';
import carbons from '../xep-0280-carbons/index.js';
import csi, { NS_CSI } from './index.js';
import { classify } from './classify.js';

const bodies = (c: TestClient) => c.received.filter((e) => e.name === 'message' || e.name === 'presence').map(label);
function label(e: XmlElement): string {
  if (e.name === 'presence') return `presence:${e.getChildText('status') ?? ''}`;
  return e.getChildText('body') ?? `message:${e.elements()[0]?.name ?? ''}`;
}

describe('XEP-0352 client state indication', () => {
  describe('classify', () => {
    const c = (s: string) => classify(parseXml(s));
    it('holds presence updates, passes subscriptions and errors', () => {
      expect(c('<presence/>')).to.equal('presence');
      expect(c("<presence type='unavailable'/>")).to.equal('presence');
      for (const t of ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'error']) expect(c(`<presence type='${t}'/>`)).to.equal('urgent');
    });
    it('drops chat-state-only messages, holds other bodiless ones, passes bodies, encryption, MAM and carbons of bodies', () => {
      expect(c("<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")).to.equal('drop');
      expect(c("<message><paused xmlns='http://jabber.org/protocol/chatstates'/><thread>t</thread><no-store xmlns='urn:xmpp:hints'/></message>")).to.equal('drop');
      expect(c("<message><received xmlns='urn:xmpp:receipts' id='1'/></message>")).to.equal('hold');
      expect(c("<message><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>")).to.equal('hold');
      expect(c('<message><body>hi</body></message>')).to.equal('urgent');
      expect(c("<message><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>")).to.equal('urgent');
      expect(c("<message><result xmlns='urn:xmpp:mam:2'/></message>")).to.equal('urgent');
      expect(c("<message type='error'/>")).to.equal('urgent');
      const carbon = (inner: string) =>
        `<message><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'>${inner}</message></forwarded></sent></message>`;
      expect(c(carbon('<body>hi</body>'))).to.equal('urgent');
      expect(c(carbon("<composing xmlns='http://jabber.org/protocol/chatstates'/>"))).to.equal('hold');
      // The user read a chat on another device (a marker sent from there, or XEP-0490's PEP node): the phone clears its notification.
      expect(c(carbon("<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>"))).to.equal('urgent');
      expect(c(carbon("<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>").replace(/sent/g, 'received'))).to.equal('hold');
      expect(c("<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:mds:displayed:0'><item id='a@b'/></items></event></message>")).to.equal('urgent');
      expect(c("<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='x'/></items></event></message>")).to.equal('hold');
      expect(c("<iq type='get'/>")).to.equal('urgent');
    });
  });

  let ts: TestServer;
  afterEach(() => ts.stop());

  async function setup(options: Record<string, unknown> = {}): Promise<{ alice: TestClient; carol: TestClient; bob: TestClient }> {
    ts = await TestServer.start([roster, presence, sm, csi], { modules: { options: { csi: options, sm: { requestAckEvery: 1000 } } } });
    return { alice: await ts.login('alice@localhost/a'), carol: await ts.login('carol@localhost/c'), bob: await ts.login('bob@localhost/b') };
  }

  it('a session that ends while inactive leaves what it held to offline storage, in order, and drops held presence', async () => {
    ts = await TestServer.start([roster, presence, offline, csi]);
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    await alice.send(`<message to='bob@localhost' type='chat' id='r'><received xmlns='urn:xmpp:receipts' id='m0'/></message>`);
    await alice.send(`<message to='bob@localhost' id='i'><x xmlns='jabber:x:conference' jid='room@conference.localhost'/></message>`);
    expect(bob.all((e) => e.name === 'message')).to.deep.equal([]);
    await bob.session.finish(null, false);
    const later = await ts.login('bob@localhost/later');
    await later.send('<presence/>');
    await eventually(() => expect(later.all((e) => e.name === 'message').map((m) => m.attrs.id)).to.deep.equal(['r', 'i']));
  });

  it('offers <csi/> after authentication', async () => {
    await setup();
    const ctx = { secure: true, transport: 'tcp' as const, host: 'localhost' };
    const post = ts.server.registrations.streamFeatures.filter((f) => f.stage === 'post-auth').map((f) => f.build(ctx)?.toString());
    expect(post).to.include(`<csi xmlns="${NS_CSI}"/>`);
  });

  it('while inactive: latest presence per sender held, chat states dropped, a body passes at once after held messages; <active/> flushes in order', async () => {
    const { alice, carol, bob } = await setup();
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    await alice.send("<presence to='bob@localhost/b'><status>a1</status></presence>");
    await carol.send("<presence to='bob@localhost/b'><status>c1</status></presence>");
    await alice.send("<presence to='bob@localhost/b'><status>a2</status></presence>");
    await alice.send("<message to='bob@localhost/b' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
    await carol.send("<message to='bob@localhost/b' type='chat'><received xmlns='urn:xmpp:receipts' id='r1'/></message>");
    expect(bodies(bob)).to.deep.equal([]);

    // A body goes at once, after the held message; presence stays held.
    await alice.send("<message to='bob@localhost/b' type='chat'><body>hello</body></message>");
    expect(bodies(bob)).to.deep.equal(['message:received', 'hello']);

    bob.clear();
    await carol.send("<presence to='bob@localhost/b'><status>c2</status></presence>");
    await carol.send("<presence to='bob@localhost/b'><status>c3</status></presence>");
    expect(bodies(bob)).to.deep.equal([]);
    await bob.send(`<active xmlns='${NS_CSI}'/>`);
    expect(bodies(bob)).to.deep.equal(['presence:a2', 'presence:c3']);
    await alice.send("<presence to='bob@localhost/b'><status>a3</status></presence>");
    expect(bodies(bob)).to.deep.equal(['presence:a2', 'presence:c3', 'presence:a3']);
  });

  it('iq and subscription requests are not held', async () => {
    const { alice, bob } = await setup();
    // Subscription requests go to available resources (RFC 6121 §3.1.3).
    await bob.send('<presence/>');
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    await alice.send("<presence to='bob@localhost' type='subscribe'/>");
    await bob.waitFor((e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    const r = await bob.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(r.attrs.type).to.equal('result');
  });

  it('past maxHeld everything held is sent', async () => {
    const { alice, bob } = await setup({ maxHeld: 2 });
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    for (const s of ['1', '2']) await alice.send(`<message to='bob@localhost/b'><received xmlns='urn:xmpp:receipts' id='${s}'/></message>`);
    expect(bodies(bob)).to.have.length(0);
    await alice.send("<message to='bob@localhost/b'><received xmlns='urn:xmpp:receipts' id='3'/></message>");
    expect(bob.all((e) => e.name === 'message').map((e) => e.getChild('received')!.attrs.id)).to.deep.equal(['1', '2', '3']);
  });

  it('a chat marker the user sent from another device reaches an inactive phone at once (its notification goes), a contact\'s marker waits', async () => {
    ts = await TestServer.start([roster, presence, carbons, csi]);
    const alice = await ts.login('alice@localhost/a');
    const desk = await ts.login('bob@localhost/desk');
    const phone = await ts.login('bob@localhost/phone');
    await phone.iq("<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
    await phone.send(`<inactive xmlns='${NS_CSI}'/>`);
    // Alice's message was read on the desk: Conversations on the phone clears its notification on the carbon of that marker.
    await desk.send("<message to='alice@localhost/a' type='chat' id='d1'><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>");
    const carbon = await phone.waitFor((e) => e.name === 'message' && e.getChild('sent', 'urn:xmpp:carbons:2') !== undefined);
    expect(carbon.getChild('sent')!.getChild('forwarded')!.getChild('message')!.getChild('displayed')?.attrs.id).to.equal('m1');
    // Alice read bob's message: a tick the phone can show later.
    await alice.send("<message to='bob@localhost/phone' type='chat' id='d2'><displayed xmlns='urn:xmpp:chat-markers:0' id='b1'/></message>");
    expect(phone.all((e) => e.attrs.id === 'd2')).to.have.length(0);
    await phone.send(`<active xmlns='${NS_CSI}'/>`);
    expect(phone.all((e) => e.attrs.id === 'd2')).to.have.length(1);
  });

  it('stream management counts only what is written: held stanzas count when flushed', async () => {
    const { alice, bob } = await setup();
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    await alice.send("<presence to='bob@localhost/b'><status>held</status></presence>");
    await alice.send("<message to='bob@localhost/b' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
    // Nothing was written: acknowledging one stanza is too many.
    await bob.send(`<a xmlns='${NS_SM}' h='0'/>`);
    await bob.send(`<active xmlns='${NS_CSI}'/>`);
    expect(bodies(bob)).to.deep.equal(['presence:held']);
    await bob.send(`<a xmlns='${NS_SM}' h='1'/>`);
    expect(bob.closedWith).to.equal(undefined);
    await bob.send(`<a xmlns='${NS_SM}' h='2'/>`);
    expect(bob.closedWith).to.equal(null);
  });

  it('resumption resets the state to active and flushes (XEP-0352 §5.2)', async () => {
    const { alice, bob } = await setup();
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor((e) => e.name === 'enabled')).attrs.id!;
    await bob.send(`<inactive xmlns='${NS_CSI}'/>`);
    await alice.send("<presence to='bob@localhost/b'><status>held</status></presence>");
    await bob.drop();
    const again = await ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor((e) => e.name === 'presence' && e.getChildText('status') === 'held');
    await alice.send("<presence to='bob@localhost/b'><status>live</status></presence>");
    await again.waitFor((e) => e.name === 'presence' && e.getChildText('status') === 'live');
  });
});
