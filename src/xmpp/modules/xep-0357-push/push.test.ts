import { expect } from 'chai';
import type { Credential } from 'firebase-admin/app';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { FakeApns } from '../../../testing/push/fake-apns.js';
import { FakeFcm } from '../../../testing/push/fake-fcm.js';
import { generateLoopbackCert, generateP8Key, tempDir } from '../../../testing/push/test-tls.js';
import { parseXml } from '../../../testing/parse-xml.js';
import { scrapedValue } from '../../../testing/metrics.js';
import { loadConfig } from '../../../config.js';
import { Server } from '../../server.js';
import { defineModule } from '../../module.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import offline from '../xep-0160-offline/index.js';
import sm from '../xep-0198-sm/index.js';
import carbons from '../xep-0280-carbons/index.js';
import mam from '../xep-0313-mam/index.js';
import { createPushModule, NS_PUBLISH_OPTIONS, NS_PUSH, NS_PUBSUB, NS_SUMMARY, pushWorthy, type PushApi } from './index.js';

const ACCESS_TOKEN = 'ya29.sori-push-test';
const credential: Credential = { getAccessToken: async () => ({ access_token: ACCESS_TOKEN, expires_in: 3600 }) };
const APNS_TOKEN = 'a'.repeat(64);
const APNS_TOKEN_2 = 'b'.repeat(64);
const FCM_TOKEN = 'fcm-token-1';

let api: PushApi;
const probe = defineModule({ name: 'probe', implements: 'test', depends: ['push'], start(ctx) { api = ctx.use<PushApi>('push'); } });
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;

const publishOptions = (fields: Record<string, string>) =>
  `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>${NS_PUBLISH_OPTIONS}</value></field>${Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('')}</x>`;
const enable = (c: TestClient, jid: string, node: string, fields: Record<string, string> = {}) =>
  c.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' jid='${jid}' node='${node}'>${publishOptions(fields)}</enable></iq>`);

function summaryOf(iq: XmlElement): Record<string, string> {
  const form = iq.getChild('pubsub', NS_PUBSUB)!.getChild('publish')!.getChild('item')!.getChild('notification', NS_PUSH)!.getChild('x', 'jabber:x:data')!;
  return Object.fromEntries(form.getChildren('field').map((f) => [f.attrs.var!, f.getChildText('value') ?? '']));
}

describe('XEP-0357 push', () => {
  describe('what counts (important.ts)', () => {
    it('pushes for bodies, encrypted payloads and call proposals; not for states, markers or sent carbons', () => {
      expect(pushWorthy(parseXml(`<message type='chat'><body>hi</body></message>`))?.body).to.equal('hi');
      expect(pushWorthy(parseXml(`<message><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`))).to.not.equal(null);
      expect(pushWorthy(parseXml(`<message><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>`))).to.not.equal(null);
      expect(pushWorthy(parseXml(`<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`))).to.equal(null);
      expect(pushWorthy(parseXml(`<message type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`))).to.equal(null);
      expect(pushWorthy(parseXml(`<message type='groupchat'><body>hi</body></message>`))).to.equal(null);
      expect(pushWorthy(parseXml(`<message type='headline'><body>hi</body></message>`))).to.equal(null);
      const carbon = (kind: string) => parseXml(`<message type='chat'><${kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='b@x/y'><body>c</body></message></forwarded></${kind}></message>`);
      // A carbon wrapper in a routed message is forged (sori's own go straight to sessions): its inner sender and body count for nothing.
      expect(pushWorthy(carbon('received'))).to.equal(null);
      expect(pushWorthy(carbon('sent'))).to.equal(null);
      const withOuterBody = parseXml(`<message type='chat' from='mallory@x/y'><body>hi</body><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bank@x'><body>pay</body></message></forwarded></received></message>`);
      expect(pushWorthy(withOuterBody)?.body).to.equal('hi');
      expect(pushWorthy(withOuterBody)?.message.attrs.from).to.equal('mallory@x/y');
      expect(pushWorthy(parseXml(`<message type='chat'><body>secret</body><private xmlns='urn:xmpp:carbons:2'/></message>`))?.body).to.equal('secret');
    });

    it('does not push a body that is all fallback text (a XEP-0424 retraction), but does push a reply that quotes with a fallback range', () => {
      const retraction = `<message type='chat'><retract xmlns='urn:xmpp:message-retract:1' id='o-1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>/me retracted a previous message, but it's unsupported by your client.</body></message>`;
      expect(pushWorthy(parseXml(retraction))).to.equal(null);
      const reply = `<message type='chat'><body>&gt; quoted\nmy answer</body><reply xmlns='urn:xmpp:reply:0' id='o-1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='9'/></fallback></message>`;
      expect(pushWorthy(parseXml(reply))?.body).to.equal('> quoted\nmy answer');
    });
  });

  describe('standard path: a third-party app server (XEP-0357 §5–§7)', () => {
    let ts: TestServer;
    let alice: TestClient;
    let appServer: TestClient;
    beforeEach(async () => {
      ts = await TestServer.start([roster, presence, offline, createPushModule(), probe], { modules: { options: { push: { includeSender: true } } } });
      alice = await ts.login('alice@localhost/pc');
      await alice.send('<presence/>');
      // A second XMPP entity acting as app server: it answers every publish with a result.
      appServer = await ts.login('appserver@localhost/srv');
    });
    afterEach(() => ts.stop());

    it('advertises urn:xmpp:push:0 on accounts and lets only the owner enable and disable', async () => {
      expect(ts.server.accountFeatures()).to.include(NS_PUSH);
      const bob = await ts.login('bob@localhost/phone');
      expect((await enable(bob, 'appserver@localhost/srv', 'node-1', { secret: 's3cr3t' })).attrs.type).to.equal('result');
      const other = await alice.iq(`<iq type='set' to='bob@localhost'><enable xmlns='${NS_PUSH}' jid='appserver@localhost/srv' node='evil'/></iq>`);
      expect(other.attrs.type).to.equal('error');
      expect((await api.registrations('bob@localhost')).map((r) => r.node)).to.deep.equal(['node-1']);
      expect(await api.registrations('alice@localhost')).to.deep.equal([]);
      expect(condition(await bob.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' node='x'/></iq>`))).to.equal('bad-request');
      await bob.iq(`<iq type='set'><disable xmlns='${NS_PUSH}' jid='appserver@localhost/srv'/></iq>`);
      expect(await api.registrations('bob@localhost')).to.deep.equal([]);
    });

    it('publishes one summary per message to the app server while the account is offline, with publish-options', async () => {
      const bob = await ts.login('bob@localhost/phone');
      await enable(bob, 'appserver@localhost/srv', 'node-1', { secret: 's3cr3t' });
      bob.session.close();
      const answered: XmlElement[] = [];
      const answer = async (n: number) => {
        while (answered.length < n) {
          const iq = await appServer.waitFor((s) => s.name === 'iq' && s.attrs.type === 'set' && !answered.includes(s) && s.getChild('pubsub', NS_PUBSUB) !== undefined);
          answered.push(iq);
          await appServer.send(`<iq type='result' id='${iq.attrs.id}' to='${iq.attrs.from}'/>`);
        }
      };
      await alice.send(`<message type='chat' id='m1' to='bob@localhost'><body>one</body></message>`);
      await alice.send(`<message type='chat' id='m2' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`);
      await alice.send(`<message type='chat' id='m3' to='bob@localhost'><body>two</body></message>`);
      await answer(2);
      await api.idle();
      expect(appServer.all((s) => s.getChild('pubsub', NS_PUBSUB) !== undefined)).to.have.length(2);
      const [first, second] = answered as [XmlElement, XmlElement];
      expect(first.attrs.from).to.equal('bob@localhost');
      expect(first.getChild('pubsub')!.getChild('publish')!.attrs.node).to.equal('node-1');
      expect(summaryOf(first)).to.deep.equal({ FORM_TYPE: NS_SUMMARY, 'message-count': '1', 'last-message-sender': 'alice@localhost' });
      expect(summaryOf(second)['message-count']).to.equal('2');
      const po = first.getChild('pubsub')!.getChild('publish-options')!.getChild('x', 'jabber:x:data')!;
      expect(po.getChildren('field').find((f) => f.attrs.var === 'secret')!.getChildText('value')).to.equal('s3cr3t');
      expect(JSON.stringify(summaryOf(first))).to.not.contain('one'); // no body unless configured
    });

    it('pushes nothing for an online user', async () => {
      const bob = await ts.login('bob@localhost/phone');
      await bob.send('<presence/>');
      await enable(bob, 'appserver@localhost/srv', 'node-1');
      await alice.send(`<message type='chat' id='m1' to='bob@localhost'><body>hi</body></message>`);
      await api.idle();
      expect(appServer.all((s) => s.getChild('pubsub', NS_PUBSUB) !== undefined)).to.have.length(0);
    });

    it('pushes for a hibernated stream-management session, once per message (not again when it goes offline)', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, carbons, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 } } } });
      alice = await ts.login('alice@localhost/pc');
      await alice.send('<presence/>');
      appServer = await ts.login('appserver@localhost/srv');
      const phone = await ts.login('bob@localhost/phone');
      const desk = await ts.login('bob@localhost/desk');
      for (const c of [phone, desk]) await c.send('<presence/>');
      await enable(phone, 'appserver@localhost/srv', 'phone-node');
      await enable(desk, 'appserver@localhost/srv', 'desk-node');
      await phone.iq(`<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>`);
      await phone.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
      await phone.drop();
      expect(phone.session.connected).to.equal(false);
      expect(phone.session.open).to.equal(true);
      // To the bare JID: the phone (hibernated) and the desk (connected) get it; only the phone's registration is pushed.
      await alice.send(`<message type='chat' id='h1' to='bob@localhost'><body>wake</body></message>`);
      // To the desk's full JID: the phone gets a received carbon while hibernated: pushed too.
      await alice.send(`<message type='chat' id='h2' to='bob@localhost/desk'><body>carbon</body></message>`);
      const isPush = (s: XmlElement) => s.getChild('pubsub', NS_PUBSUB) !== undefined;
      await appServer.waitFor((s) => isPush(s) && appServer.all(isPush).length >= 2);
      for (const p of appServer.all(isPush)) await appServer.send(`<iq type='result' id='${p.attrs.id}' to='${p.attrs.from}'/>`);
      await api.idle();
      const nodes = () => appServer.all(isPush).map((p) => p.getChild('pubsub')!.getChild('publish')!.attrs.node);
      expect(nodes()).to.deep.equal(['phone-node', 'phone-node']);
      // The phone's session ends: its unacknowledged messages move to offline storage, without a second push.
      phone.session.close();
      await api.idle();
      expect(nodes()).to.have.length(2);
    });

    // Without MAM there is no stanza-id, and without an id nothing named the message: the copy stream
    // management requeues (cloned, with a <delay/>) was taken for another message and pushed again.
    for (const archive of [[], [mam]]) it(`pushes a message without an id once, ${archive.length === 0 ? 'without' : 'with'} MAM, when the hibernated session it was pushed for ends`, async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, carbons, ...archive, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100 } } } });
      alice = await ts.login('alice@localhost/pc');
      appServer = await ts.login('appserver@localhost/srv');
      const phone = await ts.login('bob@localhost/phone');
      const desk = await ts.login('bob@localhost/desk');
      for (const c of [phone, desk]) await c.send('<presence/>');
      await enable(phone, 'appserver@localhost/srv', 'phone-node');
      await phone.iq(`<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>`);
      await phone.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
      await phone.drop();
      await alice.send(`<message type='chat' to='bob@localhost'><body>no id</body></message>`);
      await alice.send(`<message type='chat' to='bob@localhost/desk'><body>no id either</body></message>`);
      // The same text again is another message: pushed too.
      await alice.send(`<message type='chat' to='bob@localhost'><body>no id</body></message>`);
      await api.idle();
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      expect(appServer.all(isPush)).to.have.length(3);
      phone.session.close();
      await api.idle();
      expect(appServer.all(isPush)).to.have.length(3);
    });

    it('pushes two identical messages without an id once each: the requeued copy of the second, never pushed itself, is not taken for the first', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100 } } } });
      alice = await ts.login('alice@localhost/pc');
      appServer = await ts.login('appserver@localhost/srv');
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      const ok = `<message type='chat' to='bob@localhost/phone'><body>ok</body></message>`;
      const phone = await ts.login('bob@localhost/phone');
      await enable(phone, 'appserver@localhost/srv', 'phone-node');
      await phone.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
      await phone.drop();
      // Asleep: the first "ok" is pushed; when the session ends, the copy stream management requeues is not.
      await alice.send(ok);
      await api.idle();
      expect(appServer.all(isPush)).to.have.length(1);
      phone.session.close();
      await api.idle();
      expect(appServer.all(isPush)).to.have.length(1);
      // Back and connected, the phone is written the second "ok" and its session ends before acknowledging it.
      const back = await ts.login('bob@localhost/phone');
      await back.send(`<enable xmlns='urn:xmpp:sm:3'/>`);
      await alice.send(ok);
      await back.waitFor((st) => st.name === 'message' && st.getChildText('body') === 'ok');
      back.session.close();
      await api.idle();
      expect(appServer.all(isPush), 'the second message is pushed once, from its requeued copy').to.have.length(2);
    });

    it('pushes a message without an id once when its copy read back from offline storage is requeued unacknowledged', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100 } } } });
      alice = await ts.login('alice@localhost/pc');
      appServer = await ts.login('appserver@localhost/srv');
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      const phone = await ts.login('bob@localhost/phone');
      await enable(phone, 'appserver@localhost/srv', 'phone-node');
      phone.session.close();
      await alice.send(`<message type='chat' to='bob@localhost'><body>ok</body></message>`);
      await api.idle();
      expect(appServer.all(isPush)).to.have.length(1);
      // The phone comes back, is given the message from offline storage, and its session ends before acknowledging it.
      const back = await ts.login('bob@localhost/phone');
      await back.send(`<enable xmlns='urn:xmpp:sm:3'/>`);
      await back.send('<presence/>');
      await back.waitFor((st) => st.name === 'message' && st.getChildText('body') === 'ok');
      back.session.close();
      await api.idle();
      expect(appServer.all(isPush)).to.have.length(1);
    });

    it('pushes a registration made in an earlier session when the phone, back under a new resource, hibernates', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100 } } } });
      alice = await ts.login('alice@localhost/pc');
      appServer = await ts.login('appserver@localhost/srv');
      const before = await ts.login('bob@localhost/phone-1');
      await enable(before, 'appserver@localhost/srv', 'phone-node');
      before.session.close();
      const desk = await ts.login('bob@localhost/desk');
      await desk.send('<presence/>');
      await enable(desk, 'appserver@localhost/srv', 'desk-node');
      // The phone reconnects under another resource and, its registration being the account's, does not enable again.
      const phone = await ts.login('bob@localhost/phone-2');
      await phone.send('<presence/>');
      await phone.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
      await phone.drop();
      await alice.send(`<message type='chat' id='p1' to='bob@localhost'><body>are you there?</body></message>`);
      await api.idle();
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      const nodes = () => appServer.all(isPush).map((p) => p.getChild('pubsub')!.getChild('publish')!.attrs.node);
      // The connected desk has the message: its registration is not pushed.
      expect(nodes()).to.deep.equal(['phone-node']);
      phone.session.close();
      await api.idle();
      expect(nodes()).to.deep.equal(['phone-node']);
    });

    it('pushes the registered phone, once, when another device takes the message in a hibernated session', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, sm, createPushModule(), probe], { modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100 } } } });
      alice = await ts.login('alice@localhost/pc');
      appServer = await ts.login('appserver@localhost/srv');
      const phone = await ts.login('bob@localhost/phone');
      await enable(phone, 'appserver@localhost/srv', 'phone-node');
      phone.session.close();
      // A tablet that never enabled push takes the message, hibernated, and never reads it.
      const tablet = await ts.login('bob@localhost/tablet');
      await tablet.send('<presence/>');
      await tablet.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
      await tablet.drop();
      await alice.send(`<message type='chat' id='b1' to='bob@localhost'><body>hello</body></message>`);
      await api.idle();
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      // Nobody is reading it: the phone is told now, not when the tablet's session times out.
      expect(appServer.all(isPush)).to.have.length(1);
      tablet.session.close();
      await api.idle();
      expect(appServer.all(isPush).map((p) => p.getChild('pubsub')!.getChild('publish')!.attrs.node)).to.deep.equal(['phone-node']);
    });

    it('removes a registration the app server refuses with a cancel error', async () => {
      const bob = await ts.login('bob@localhost/phone');
      await enable(bob, 'appserver@localhost/srv', 'gone');
      bob.session.close();
      await alice.send(`<message type='chat' id='g1' to='bob@localhost'><body>hi</body></message>`);
      const iq = await appServer.waitFor((s) => s.getChild('pubsub', NS_PUBSUB) !== undefined);
      await appServer.send(`<iq type='error' id='${iq.attrs.id}' to='${iq.attrs.from}'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
      await api.idle();
      expect(await api.registrations('bob@localhost')).to.deep.equal([]);
    });

    it('keeps a registration through a wait error, drops it on a modify error, but not one enabled again meanwhile', async () => {
      const isPush = (st: XmlElement) => st.getChild('pubsub', NS_PUBSUB) !== undefined;
      const answer = async (n: number, error: string): Promise<void> => {
        await appServer.waitFor((st) => isPush(st) && appServer.all(isPush).length === n);
        const iq = appServer.all(isPush)[n - 1]!;
        await appServer.send(`<iq type='error' id='${iq.attrs.id}' to='${iq.attrs.from}'>${error}</iq>`);
        await api.idle();
      };
      const phone = await ts.login('bob@localhost/phone');
      await enable(phone, 'appserver@localhost/srv', 'n', { secret: 'old' });
      phone.session.close();
      await alice.send(`<message type='chat' id='w1' to='bob@localhost'><body>1</body></message>`);
      await answer(1, `<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`);
      expect(await api.registrations('bob@localhost')).to.have.length(1);
      await alice.send(`<message type='chat' id='w2' to='bob@localhost'><body>2</body></message>`);
      // The app rotates its secret while the push made with the old one is out: the refusal must not drop the new registration.
      await appServer.waitFor((st) => isPush(st) && appServer.all(isPush).length === 2);
      const again = await ts.login('bob@localhost/phone');
      await enable(again, 'appserver@localhost/srv', 'n', { secret: 'new' });
      again.session.close();
      await answer(2, `<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`);
      expect((await api.registrations('bob@localhost')).map((r) => r.publishOptions?.includes('new'))).to.deep.equal([true]);
      await alice.send(`<message type='chat' id='w3' to='bob@localhost'><body>3</body></message>`);
      await answer(3, `<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`);
      expect(await api.registrations('bob@localhost')).to.deep.equal([]);
    });

    it('counts an app server that does not answer as one asking to wait: the registration goes after 16 unanswered pushes in a row', async () => {
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline, createPushModule(), probe], { modules: { options: { push: { publishTimeoutMs: 20 } } } });
      alice = await ts.login('alice@localhost/pc');
      // Connected, and answering nothing.
      appServer = await ts.login('appserver@localhost/srv');
      const bob = await ts.login('bob@localhost/phone');
      await enable(bob, 'appserver@localhost/srv', 'silent');
      bob.session.close();
      for (let i = 1; i <= 16; i++) {
        await alice.send(`<message type='chat' id='t${i}' to='bob@localhost'><body>${i}</body></message>`);
        await api.idle();
        expect(await api.registrations('bob@localhost'), `after ${i} unanswered`).to.have.length(i < 16 ? 1 : 0);
      }
      expect(appServer.all((st) => st.getChild('pubsub', NS_PUBSUB) !== undefined)).to.have.length(16);
    });
  });

  it('keeps registrations across a restart (same store)', async () => {
    const modules = [roster, presence, createPushModule(), probe];
    const before = await TestServer.start(modules);
    const bob = await before.login('bob@localhost/phone');
    expect((await enable(bob, 'app.example', 'n-1', { secret: 'k' })).attrs.type).to.equal('result');
    await before.stop();
    const after = new Server({ config: loadConfig({ env: {}, overrides: { storage: { backend: 'memory' } } }), store: before.store, modules });
    await after.start();
    const regs = await api.registrations('bob@localhost');
    expect(regs.map((r) => [r.jid, r.node, r.resource])).to.deep.equal([['app.example', 'n-1', 'bob@localhost/phone']]);
    expect(regs[0]!.publishOptions).to.contain('secret');
    await after.stop();
  });

  describe('built-in app server: APNs and FCM through src/push', () => {
    const tls = generateLoopbackCert();
    const p8 = generateP8Key();
    const dir = tempDir('sori-push-module-');
    let apns: FakeApns;
    let fcm: FakeFcm;
    let ts: TestServer;
    let alice: TestClient;

    beforeEach(async () => {
      apns = await FakeApns.start({ ...tls, providerKeys: { ABC123DEFG: p8.publicKey }, topics: ['im.sori.app'] });
      fcm = await FakeFcm.start({ ...tls, accessToken: ACCESS_TOKEN });
      const apps = {
        ios: {
          type: 'apns', bundleId: 'im.sori.app', keyFile: dir.write('AuthKey.p8', p8.privateKey), keyId: 'ABC123DEFG', teamId: 'TEAM123456',
          address: '127.0.0.1', port: apns.port, ca: dir.write('ca.pem', tls.cert), privacy: { includeSender: true },
        },
        android: { type: 'fcm', projectId: 'sori-test', endpointHost: '127.0.0.1', endpointPort: fcm.port, endpointCa: dir.write('ca.pem', tls.cert), privacy: { includeBody: true } },
      };
      ts = await TestServer.start([roster, presence, offline, createPushModule({ fcm: { credential } }), probe], {
        modules: { options: { push: { apps, dispatcher: { maxAttempts: 1, requestTimeoutMs: 60_000 } } } },
      });
      alice = await ts.login('alice@localhost/pc');
      await alice.send('<presence/>');
    });
    afterEach(async () => {
      await ts.stop();
      await apns.close();
      await fcm.close();
    });
    after(() => dir.remove());
    const scraped = (name: string, labels: Record<string, string> = {}) => scrapedValue(ts.server.metrics.render(), name, labels);

    async function registerDevices(): Promise<void> {
      const bob = await ts.login('bob@localhost/phone');
      expect((await enable(bob, 'push.localhost', 'iphone', { service: 'apns', app: 'ios', token: APNS_TOKEN })).attrs.type).to.equal('result');
      expect((await enable(bob, 'push.localhost', 'pixel', { app: 'android', token: FCM_TOKEN })).attrs.type).to.equal('result');
      bob.session.close();
    }

    it('validates the device form: token required, app known, service consistent', async () => {
      const bob = await ts.login('bob@localhost/phone');
      expect(condition(await enable(bob, 'push.localhost', 'd', { app: 'ios' }))).to.equal('not-acceptable');
      expect(condition(await enable(bob, 'push.localhost', 'd', { app: 'nope', token: 'x' }))).to.equal('item-not-found');
      expect(condition(await enable(bob, 'push.localhost', 'd', { app: 'ios', service: 'fcm', token: 'x' }))).to.equal('not-acceptable');
      expect(condition(await enable(bob, 'push.localhost', 'd', { token: 'x' }))).to.equal('not-acceptable'); // two apps: must name one
      expect((await enable(bob, 'push.localhost', 'd', { service: 'fcm', token: 'x' })).attrs.type).to.equal('result'); // one fcm app
    });

    it('one push per offline message per device, with the configured payload fields; none for online users', async () => {
      await registerDevices();
      await alice.send(`<message type='chat' id='p1' to='bob@localhost'><body>secret text</body></message>`);
      await alice.send(`<message type='chat' id='p1s' to='bob@localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`);
      await alice.send(`<message type='chat' id='p2' to='bob@localhost'><body>more</body></message>`);
      await api.idle();
      expect(apns.requests.map((r) => r.token)).to.deep.equal([APNS_TOKEN, APNS_TOKEN]);
      expect(fcm.requests).to.have.length(2);
      // APNs app: sender allowed, body not.
      const aps = apns.requests[1]!.payload;
      expect(JSON.stringify(aps)).to.contain('alice@localhost').and.not.to.contain('more');
      expect((aps.aps as { badge?: number }).badge).to.equal(2);
      // FCM app: body allowed, sender not.
      expect(fcm.requests[0]!.message.data).to.deep.equal({ 'message-id': 'p1', count: '1', body: 'secret text' });
      expect(scraped('sori_push_notifications_total', { outcome: 'sent' })).to.equal(4);
      expect(scraped('sori_push_notifications_total', { outcome: 'failed' })).to.equal(0);

      // Carol is online: no push for her, although she registered a device.
      const carol = await ts.login('carol@localhost/phone');
      await enable(carol, 'push.localhost', 'iphone', { app: 'ios', token: APNS_TOKEN_2 });
      await carol.send('<presence/>');
      await alice.send(`<message type='chat' id='c1' to='carol@localhost'><body>hi</body></message>`);
      await carol.waitFor((s) => s.attrs.id === 'c1');
      await api.idle();
      expect(apns.requests.filter((r) => r.token === APNS_TOKEN_2)).to.have.length(0);
    });

    it('removes the registration when APNs answers 410 Unregistered or FCM UNREGISTERED', async () => {
      await registerDevices();
      apns.script.markDead(APNS_TOKEN);
      fcm.script.markDead(FCM_TOKEN);
      await alice.send(`<message type='chat' id='d1' to='bob@localhost'><body>x</body></message>`);
      await api.idle();
      expect(apns.requests).to.have.length(1);
      expect(fcm.requests).to.have.length(1);
      expect(await api.registrations('bob@localhost')).to.deep.equal([]);
      expect(scraped('sori_push_invalid_tokens_total')).to.equal(2);
      await alice.send(`<message type='chat' id='d2' to='bob@localhost'><body>y</body></message>`);
      await api.idle();
      expect(apns.requests).to.have.length(1);
    });

    it('a push endpoint that never answers does not hold back delivery to online users', async () => {
      await registerDevices();
      apns.script.hangForever();
      const carol = await ts.login('carol@localhost/pc');
      await carol.send('<presence/>');
      await alice.send(`<message type='chat' id='x1' to='bob@localhost'><body>for the phone</body></message>`);
      await apns.script.waitForRequests(1); // the push is in flight, and stays unanswered
      await alice.send(`<message type='chat' id='x2' to='carol@localhost'><body>now</body></message>`);
      const got = await carol.waitFor((s) => s.attrs.id === 'x2');
      expect(got.getChildText('body')).to.equal('now');
      expect(api.dispatcher!.counters.sent).to.be.lessThan(2); // the APNs push is still outstanding
      // Offline storage went ahead too.
      const bob = await ts.login('bob@localhost/phone');
      await bob.send('<presence/>');
      await bob.waitFor((s) => s.getChildText('body') === 'for the phone');
    });
  });
});
