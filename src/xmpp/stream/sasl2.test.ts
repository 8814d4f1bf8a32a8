import { expect } from 'chai';
import { MemoryStore } from '../../storage/memory/index.js';
import { testSoriForDescribe } from '../../testing/test-sori.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { parseXml } from './parse-xml.js';

const NS_SASL2 = 'urn:xmpp:sasl:2';
const NS_BIND2 = 'urn:xmpp:bind:0';
const NS_SM = 'urn:xmpp:sm:3';
const BIND = (inner = '') => `<bind xmlns='${NS_BIND2}'><tag>phone</tag>${inner}</bind>`;
const body = (el: XmlElement): string | undefined => el.getChildText('body');
const FAST_UA = 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b';
const REQUEST_TOKEN = `<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`;

describe('XEP-0388 SASL2 with XEP-0386 Bind2 and inline stream management (real sockets)', function () {
  this.timeout(20000);
  const t = testSoriForDescribe({ c2s: { sasl2: true } }, { store: new MemoryStore(), accounts: ['alice', 'bob', 'erin'] });
  const { preAuth } = t;

  it('offers SASL2 beside RFC 6120 SASL, with Bind2 and its inline features and SM resumption', async () => {
    const { features } = await preAuth();
    const auth = features.getChild('authentication', NS_SASL2)!;
    expect(auth.getChildren('mechanism').map((m) => m.getText())).to.include('SCRAM-SHA-1');
    expect(features.getChild('mechanisms')).to.not.equal(undefined);
    const inline = auth.getChild('inline')!;
    expect(inline.getChild('sm', NS_SM)).to.not.equal(undefined);
    const bindFeatures = inline.getChild('bind', NS_BIND2)!.getChild('inline')!.getChildren('feature').map((f) => f.attrs.var);
    expect(bindFeatures).to.include.members([NS_SM, 'urn:xmpp:carbons:2', 'urn:xmpp:csi:0']);
  });

  it('authenticates, binds, enables SM and carbons and goes inactive in one round trip, without a stream restart', async () => {
    const { c } = await preAuth();
    const success = await c.scram2('alice', 'secret', BIND(`<enable xmlns='${NS_SM}' resume='true'/><enable xmlns='urn:xmpp:carbons:2'/><inactive xmlns='urn:xmpp:csi:0'/>`), 'ua-1');
    expect(success.name, success.toString()).to.equal('success');
    const full = success.getChildText('authorization-identifier')!;
    expect(full).to.match(/^alice@localhost\/phone\.[0-9a-f]{8}$/);
    const enabled = success.getChild('bound', NS_BIND2)!.getChild('enabled', NS_SM)!;
    expect(enabled.attrs.resume).to.equal('true');

    // The stream is ready as it is: no header, no features, straight to stanzas.
    c.write(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`);
    expect((await c.next((e) => e.name === 'iq' && e.attrs.id === 'r1')).attrs.type).to.equal('result');
    c.write(`<presence/>`);

    // Carbons: what alice sends from another client is copied here.
    const other = await t.connect();
    await other.login('alice', 'secret', 'desk');
    other.write(`<message to='bob@localhost' type='chat' id='m1'><body>from the desk</body></message>`);
    const carbon = await c.next((e) => e.name === 'message' && e.getChild('sent', 'urn:xmpp:carbons:2') !== undefined);
    expect(carbon.toString()).to.contain('from the desk');

    // CSI: inactive since binding, so bob's presence waits while his message comes at once.
    const bob = await t.connect();
    await bob.login('bob', 'secret', 'pc');
    bob.write(`<presence to='${full}'/>`);
    bob.write(`<message to='${full}' type='chat'><body>urgent</body></message>`);
    await c.next((e) => e.name === 'message' && body(e) === 'urgent');
    expect(c.elements.some((e) => e.name === 'presence' && e.attrs.from === 'bob@localhost/pc')).to.equal(false);
    c.write(`<active xmlns='urn:xmpp:csi:0'/>`);
    await c.next((e) => e.name === 'presence' && e.attrs.from === 'bob@localhost/pc');
  });

  it('counts a stanza that reaches the session while it is being bound: an honest <a/> after <enabled/> is accepted', async () => {
    // A message for the new full JID while a session/bound handler waits (a slow store read, Redis).
    const unhook = t.sori.server.hooks.add('session/bound', async ({ session }) => {
      if (session.jid.local === 'bob') await t.sori.server.route(parseXml(`<message from='alice@localhost/x' to='${session.jid.full}' type='chat' id='m1'><body>early</body></message>`));
    });
    try {
      const { c } = await preAuth();
      const success = await c.scram2('bob', 'secret', BIND(`<enable xmlns='${NS_SM}'/>`), '11111111-2222-4333-8444-555555555555');
      expect(success.getChild('bound', NS_BIND2)!.getChild('enabled', NS_SM)).to.not.equal(undefined);
      expect(body(await c.next((e) => e.name === 'message'))).to.equal('early');
      // It came after <enabled/>, so the client counts it (XEP-0198 §4); the server must have counted it too.
      c.write(`<a xmlns='${NS_SM}' h='1'/><r xmlns='${NS_SM}'/>`);
      const answer = await c.next((e) => e.name === 'a' || e.name === 'error' || e.name === 'stream:error');
      expect([answer.name, answer.attrs.h]).to.deep.equal(['a', '0']);
    } finally {
      unhook();
    }
  });

  it('copies to the session a message that reaches its account while it is being bound with carbons asked for (XEP-0386: enabled at binding)', async () => {
    // bob writes to erin while a session/bound handler waits (a slow store read, Redis): erin has no available resource
    // yet, so the message is kept offline, and every carbon-enabled session gets a copy (XEP-0280 §6).
    const unhook = t.sori.server.hooks.add('session/bound', async ({ session }) => {
      if (session.jid.local === 'erin') await t.sori.server.route(parseXml(`<message from='bob@localhost/pc' to='erin@localhost' type='chat' id='d1'><body>sent meanwhile</body></message>`));
    });
    try {
      const { c } = await preAuth();
      expect((await c.scram2('erin', 'secret', BIND(`<enable xmlns='urn:xmpp:carbons:2'/>`), 'c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f')).name).to.equal('success');
      const carbon = await c.next((e) => e.name === 'message' && e.getChild('received', 'urn:xmpp:carbons:2') !== undefined);
      expect(carbon.toString()).to.contain('sent meanwhile');
    } finally {
      unhook();
    }
  });

  it('gives the same installation (user-agent id) the same resource each time', async () => {
    const first = await preAuth();
    const a = (await first.c.scram2('bob', 'secret', BIND(), '3f2b8c1e-5d4a-4e6b-9c7d-8e9f0a1b2c3d')).getChildText('authorization-identifier');
    first.c.destroy();
    const second = await preAuth();
    const b = (await second.c.scram2('bob', 'secret', BIND(), '3f2b8c1e-5d4a-4e6b-9c7d-8e9f0a1b2c3d')).getChildText('authorization-identifier');
    const third = await preAuth();
    const other = (await third.c.scram2('bob', 'secret', BIND(), '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d')).getChildText('authorization-identifier');
    expect(b).to.equal(a);
    expect(other).to.not.equal(a);
  });

  it('takes a user-agent id that is not a UUID (XEP-0388 §2.3), a huge one included, as no id: the login binds a random resource and gets no token', async () => {
    for (const id of ['install-42', 'x'.repeat(20_000)]) {
      const resources: string[] = [];
      for (const attempt of [1, 2]) {
        const { c } = await preAuth();
        const success = await c.scram2('bob', 'secret', BIND() + REQUEST_TOKEN, id);
        expect(success.name, `${id.slice(0, 12)}, login ${attempt}: ${success.toString().slice(0, 200)}`).to.equal('success');
        expect(success.getChild('token', 'urn:xmpp:fast:0'), 'no FAST token bound to it').to.equal(undefined);
        resources.push(success.getChildText('authorization-identifier')!);
      }
      expect(resources[0], 'not a stable resource derived from it').to.match(/^bob@localhost\/phone\./);
      expect(resources[1]).to.not.equal(resources[0]);
    }
    // A FAST login naming such an installation is refused as malformed, not checked against the store.
    const { c } = await preAuth();
    expect((await c.fast('bob', 'any-token', 'install-42')).getChild('malformed-request')).to.not.equal(undefined);
  });

  it('answers a wrong password with a SASL2 failure carrying not-authorized', async () => {
    const { c } = await preAuth();
    const failure = await c.scram2('alice', 'wrong', BIND());
    expect(failure.name).to.equal('failure');
    expect(failure.attrs.xmlns).to.equal(NS_SASL2);
    expect(failure.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-sasl')).to.not.equal(undefined);
  });

  it('without Bind2, answers with the bare JID and the features to bind the classic way', async () => {
    const { c } = await preAuth();
    const success = await c.scram2('alice', 'secret');
    expect(success.getChildText('authorization-identifier')).to.equal('alice@localhost');
    const features = await c.features();
    expect(features.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')).to.not.equal(undefined);
    c.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>classic</resource></bind></iq>`);
    expect((await c.next((e) => e.attrs.id === 'b')).getChild('bind')!.getChildText('jid')).to.equal('alice@localhost/classic');
  });

  it('resumes a session inside SASL2: <resumed/> in the success, then the stanzas the client missed', async () => {
    const first = await preAuth();
    const success = await first.c.scram2('alice', 'secret', BIND(`<enable xmlns='${NS_SM}' resume='true'/>`), '22222222-3333-4444-8555-666666666666');
    const full = success.getChildText('authorization-identifier')!;
    const previd = success.getChild('bound')!.getChild('enabled')!.attrs.id!;
    first.c.write('<presence/>');
    first.c.destroy();

    const bob = await t.connect();
    await bob.login('bob', 'secret', 'pc');
    for (const n of ['1', '2']) bob.write(`<message to='${full}' type='chat'><body>while away ${n}</body></message>`);
    await new Promise((r) => setTimeout(r, 200));

    const again = await preAuth();
    // A failed <resume/> would fall back to the Bind2 request next to it.
    const resumed = await again.c.scram2('alice', 'secret', `<resume xmlns='${NS_SM}' previd='${previd}' h='0'/>${BIND()}`, '22222222-3333-4444-8555-666666666666');
    expect(resumed.getChildText('authorization-identifier')).to.equal(full);
    expect(resumed.getChild('resumed', NS_SM)?.attrs.previd).to.equal(previd);
    expect(resumed.getChild('bound', NS_BIND2)).to.equal(undefined);
    const missed = [await again.c.next((e) => e.name === 'message'), await again.c.next((e) => e.name === 'message')];
    expect(missed.map(body)).to.deep.equal(['while away 1', 'while away 2']);

    const stale = await preAuth();
    const fresh = await stale.c.scram2('alice', 'secret', `<resume xmlns='${NS_SM}' previd='no-such-session' h='0'/>${BIND()}`, '33333333-4444-4555-8666-777777777777');
    expect(fresh.getChild('failed', NS_SM)).to.not.equal(undefined);
    expect(fresh.getChild('bound', NS_BIND2)).to.not.equal(undefined);
  });

  it('ends the stream with handled-count-too-high when an inline <resume/> acknowledges more than was sent, binding nothing', async () => {
    const first = await preAuth();
    const success = await first.c.scram2('bob', 'secret', BIND(`<enable xmlns='${NS_SM}' resume='true'/>`), '44444444-5555-4666-8777-888888888888');
    const previd = success.getChild('bound')!.getChild('enabled')!.attrs.id!;
    first.c.destroy();
    const before = t.sori.server.sessions.ofAccount('bob@localhost').length;

    const again = await preAuth();
    const answer = await again.c.scram2('bob', 'secret', `<resume xmlns='${NS_SM}' previd='${previd}' h='55'/>${BIND()}`, 'ua-too-high-2').catch((e: Error) => e);
    await again.c.waitClosed();
    // XEP-0198 §6: the client is told why, as for an <a/> with too high an h.
    const error = again.c.elements.find((e) => e.name === 'stream:error');
    expect(error?.getChild('handled-count-too-high', NS_SM)?.attrs.h, String(answer)).to.equal('55');
    expect(again.c.elements.some((e) => e.name === 'success')).to.equal(false);
    // The <bind/> beside it is not bound to the closed stream: no session is left that nothing reads.
    expect(t.sori.server.sessions.ofAccount('bob@localhost').length).to.equal(before);
  });

  it('ends the stream, rather than answering a SASL failure with the session bound, when an inline request fails after authentication', async () => {
    const accounts = t.sori.server.accounts;
    const forget = accounts.forgetFastToken;
    accounts.forgetFastToken = () => Promise.reject(new Error('the store is down'));
    try {
      const { c } = await preAuth();
      const before = t.sori.server.sessions.ofAccount('erin@localhost').length;
      const answer = await c.scram2('erin', 'secret', `${BIND()}<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>`, '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d').catch((e: Error) => e);
      await c.waitClosed();
      // A <failure/> says the stream is as it was, unauthenticated (XEP-0388 §2.6); this one was authenticated and bound.
      expect(c.elements.some((e) => e.name === 'failure'), String(answer)).to.equal(false);
      expect(c.elements.find((e) => e.name === 'stream:error')?.getChild('internal-server-error')).to.not.equal(undefined);
      expect(t.sori.server.sessions.ofAccount('erin@localhost').length).to.equal(before);
    } finally {
      accounts.forgetFastToken = forget;
    }
  });

  it('FAST (XEP-0484): a token asked for at a password login logs the same installation in again, until the password changes', async () => {
    const first = await preAuth();
    const fastOffer = first.features.getChild('authentication', NS_SASL2)!.getChild('inline')!.getChild('fast', 'urn:xmpp:fast:0')!;
    expect(fastOffer.getChildren('mechanism').map((m) => m.getText())).to.include('HT-SHA-256-NONE');
    const success = await first.c.scram2('bob', 'secret', REQUEST_TOKEN, FAST_UA);
    const issued = success.getChild('token', 'urn:xmpp:fast:0')!;
    expect(Date.parse(issued.attrs.expiry!)).to.be.above(Date.now() + 13 * 86_400_000);
    const token = issued.attrs.token!;

    const again = await preAuth();
    const fast = await again.c.fast('bob', token, FAST_UA, BIND());
    expect(fast.name, fast.toString()).to.equal('success');
    expect(fast.getChildText('authorization-identifier')).to.match(/^bob@localhost\/phone\./);

    const elsewhere = await preAuth();
    expect((await elsewhere.c.fast('bob', token, '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b')).name, 'bound to its installation').to.equal('failure');
    const forged = await preAuth();
    expect((await forged.c.fast('bob', 'not-the-token', FAST_UA)).getChild('not-authorized')).to.not.equal(undefined);

    await t.sori.server.accounts.setPassword(parseJid('bob@localhost'), 'secret');
    const after = await preAuth();
    expect((await after.c.fast('bob', token, FAST_UA)).name, 'a new password ends the token').to.equal('failure');
  });
});
