import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseXml } from '../../../testing/parse-xml.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import carbons, { carbonEligible, NS_CARBONS, unwrapCarbon } from './index.js';

const enable = (c: TestClient) => c.iq(`<iq type='set'><enable xmlns='${NS_CARBONS}'/></iq>`);
const isCarbon = (kind: 'sent' | 'received', body: string) => (s: XmlElement) =>
  s.name === 'message' && unwrapCarbon(s)?.kind === kind && unwrapCarbon(s)!.message.getChildText('body') === body;
const carbonsOf = (c: TestClient) => c.all((s) => s.name === 'message' && unwrapCarbon(s) !== null);
const plain = (c: TestClient, body: string) => c.all((s) => s.name === 'message' && s.getChildText('body') === body);

describe('XEP-0280 carbons', () => {
  describe('eligibility (§6)', () => {
    const el = (s: string) => parseXml(s);
    it('copies chat messages (chat states and markers too) and normal ones with a body or IM payload', () => {
      expect(carbonEligible(el(`<message type='chat'><body>hi</body></message>`), true)).to.equal(true);
      expect(carbonEligible(el(`<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`), true)).to.equal(true);
      expect(carbonEligible(el(`<message><body>hi</body></message>`), false)).to.equal(true);
      expect(carbonEligible(el(`<message><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`), false)).to.equal(true);
      expect(carbonEligible(el(`<message><x xmlns='jabber:x:oob'/></message>`), false)).to.equal(false);
    });
    it('never copies groupchat, headline, error, private, no-copy, carbons or MUC private messages', () => {
      expect(carbonEligible(el(`<message type='groupchat'><body>hi</body></message>`), true)).to.equal(false);
      expect(carbonEligible(el(`<message type='headline'><body>hi</body></message>`), true)).to.equal(false);
      expect(carbonEligible(el(`<message type='error'><body>hi</body></message>`), true)).to.equal(false);
      expect(carbonEligible(el(`<message type='chat'><body>hi</body><private xmlns='${NS_CARBONS}'/></message>`), false)).to.equal(false);
      expect(carbonEligible(el(`<message type='chat'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/></message>`), false)).to.equal(false);
      expect(carbonEligible(el(`<message type='chat'><received xmlns='${NS_CARBONS}'/></message>`), true)).to.equal(false);
      expect(carbonEligible(el(`<message type='chat'><body>pm</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`), true)).to.equal(false);
      // Invitations are copied, with or without a body (XEP-0280 §6's MUC rules): mediated (XEP-0045) and direct (XEP-0249).
      expect(carbonEligible(el(`<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>`), true)).to.equal(true);
      expect(carbonEligible(el(`<message><body>join</body><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>`), true)).to.equal(true);
      expect(carbonEligible(el(`<message><x xmlns='jabber:x:conference' jid='room@conference.example'/></message>`), true)).to.equal(true);
    });
  });

  describe('on the server', () => {
    let ts: TestServer;
    let a1: TestClient;
    let a2: TestClient;
    let a3: TestClient;
    let bob: TestClient;
    beforeEach(async () => {
      ts = await TestServer.start([roster, presence, carbons]);
      a1 = await ts.login('alice@localhost/one');
      a2 = await ts.login('alice@localhost/two');
      a3 = await ts.login('alice@localhost/three'); // never enables carbons
      bob = await ts.login('bob@localhost/pc');
      for (const c of [a1, a2, a3, bob]) await c.send('<presence/>');
    });
    afterEach(() => ts.stop());

    it('advertises urn:xmpp:carbons:2 and answers enable/disable, repeated ones too (§10.1)', async () => {
      expect(ts.server.features()).to.include(NS_CARBONS);
      for (let i = 0; i < 2; i++) expect((await enable(a1)).attrs.type).to.equal('result');
      for (let i = 0; i < 2; i++) expect((await a1.iq(`<iq type='set'><disable xmlns='${NS_CARBONS}'/></iq>`)).attrs.type).to.equal('result');
      const other = await a1.iq(`<iq type='set' to='bob@localhost'><enable xmlns='${NS_CARBONS}'/></iq>`);
      expect(other.attrs.type).to.equal('error');
    });

    it('copies a sent message to the other carbon-enabled resources only, from the bare JID', async () => {
      await enable(a1);
      await enable(a2);
      await a1.send(`<message type='chat' to='bob@localhost'><body>out-1</body></message>`);
      await bob.waitFor((s) => s.getChildText('body') === 'out-1');
      const copy = await a2.waitFor(isCarbon('sent', 'out-1'));
      expect(copy.attrs.from).to.equal('alice@localhost');
      expect(copy.attrs.to).to.equal('alice@localhost/two');
      expect(copy.attrs.type).to.equal('chat');
      expect(unwrapCarbon(copy)!.message.attrs.from).to.equal('alice@localhost/one');
      expect(carbonsOf(a1)).to.have.length(0); // not to the sender (§8)
      expect(carbonsOf(a3)).to.have.length(0); // not enabled
    });

    it('copies a message to one full JID to the other carbon-enabled resources as "received"', async () => {
      await enable(a1);
      await enable(a2);
      await bob.send(`<message type='chat' to='alice@localhost/one'><body>in-1</body></message>`);
      expect(plain(a1, 'in-1')).to.have.length(1);
      const copy = await a2.waitFor(isCarbon('received', 'in-1'));
      expect(copy.attrs.from).to.equal('alice@localhost');
      expect(unwrapCarbon(copy)!.message.attrs.from).to.equal('bob@localhost/pc');
      expect(carbonsOf(a1)).to.have.length(0); // it got the original (§6)
      expect(carbonsOf(a3)).to.have.length(0);
      expect(plain(a2, 'in-1')).to.have.length(0);
    });

    it('copies a message between two resources of the account to the third only, not back to the sender (§8)', async () => {
      for (const c of [a1, a2, a3]) await enable(c);
      await a1.send(`<message type='chat' to='alice@localhost/two'><body>note to self</body></message>`);
      expect(plain(a2, 'note to self')).to.have.length(1);
      expect(a3.all(isCarbon('received', 'note to self'))).to.have.length(1);
      expect(carbonsOf(a1)).to.have.length(0);
    });

    it('sends no received copy to resources that got a bare-JID message, but to a carbon-enabled negative-priority one', async () => {
      await enable(a1);
      await enable(a2);
      await a2.send(`<presence><priority>-1</priority></presence>`);
      await bob.send(`<message type='chat' to='alice@localhost'><body>bare-1</body></message>`);
      expect(plain(a1, 'bare-1')).to.have.length(1);
      expect(plain(a3, 'bare-1')).to.have.length(1);
      expect(carbonsOf(a1)).to.have.length(0);
      expect(plain(a2, 'bare-1')).to.have.length(0);
      expect(a2.all(isCarbon('received', 'bare-1'))).to.have.length(1);
    });

    it('copies a bare-JID message to a carbon-enabled resource even when no resource has non-negative priority (§6)', async () => {
      await enable(a1);
      for (const c of [a1, a2, a3]) await c.send(`<presence><priority>-1</priority></presence>`);
      await bob.send(`<message type='chat' to='alice@localhost'><body>neg-1</body></message>`);
      await a1.waitFor(isCarbon('received', 'neg-1'));
      expect(plain(a1, 'neg-1')).to.have.length(0);
      expect(carbonsOf(a2).length + carbonsOf(a3).length).to.equal(0); // not enabled
    });

    it('honours <private/> (and strips it on delivery) and <no-copy/>', async () => {
      await enable(a1);
      await enable(a2);
      await a1.send(`<message type='chat' to='bob@localhost/pc'><body>p-1</body><private xmlns='${NS_CARBONS}'/></message>`);
      await bob.send(`<message type='chat' to='alice@localhost/one'><body>p-2</body><private xmlns='${NS_CARBONS}'/></message>`);
      await bob.send(`<message type='chat' to='alice@localhost/one'><body>p-3</body><no-copy xmlns='urn:xmpp:hints'/></message>`);
      expect(carbonsOf(a2)).to.have.length(0);
      expect(carbonsOf(a1)).to.have.length(0);
      const got = plain(a1, 'p-2')[0]!;
      expect(got.getChild('private', NS_CARBONS)).to.equal(undefined);
    });

    it('stops copying after disable, and copies nothing for groupchat/headline', async () => {
      await enable(a2);
      await a2.iq(`<iq type='set'><disable xmlns='${NS_CARBONS}'/></iq>`);
      await a1.send(`<message type='chat' to='bob@localhost'><body>off-1</body></message>`);
      await enable(a2);
      await bob.send(`<message type='headline' to='alice@localhost/one'><body>h-1</body></message>`);
      expect(carbonsOf(a2)).to.have.length(0);
    });

    it('copies a message the user sends to their own bare JID only through the received rules', async () => {
      await enable(a1);
      await enable(a2);
      await a1.send(`<message type='chat' to='alice@localhost'><body>self-1</body></message>`);
      expect(plain(a2, 'self-1')).to.have.length(1);
      expect(carbonsOf(a2)).to.have.length(0);
    });
  });
});
