/**
 * XEP-0280, XEP-0333, XEP-0357 and XEP-0363 end to end: a real sori process,
 * @xmpp/client sessions over TCP, real HTTP(S) for uploads, and the fake APNs
 * of src/testing/push reached by the real @parse/node-apn inside sori.
 */
import { expect } from 'chai';
import https from 'node:https';
import { createServer } from 'node:net';
import { startSori, type SoriProcess } from './support/server.js';
import { connectTcp, xml, type Element, type XmppSession } from './support/clients.js';
import { FakeApns } from '../src/testing/push/fake-apns.js';
import { generateLoopbackCert, generateP8Key, tempDir } from '../src/testing/push/test-tls.js';

const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_MARKERS = 'urn:xmpp:chat-markers:0';
const NS_UPLOAD = 'urn:xmpp:http:upload:0';
const NS_PUSH = 'urn:xmpp:push:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

let iqId = 0;
/** Sends an iq and resolves with its reply. */
async function iq(s: XmppSession, type: 'get' | 'set', attrs: Record<string, string>, child: Element): Promise<Element> {
  const id = `e2e-${++iqId}`;
  const reply = s.waitFor((el) => el.is('iq') && el.attrs.id === id, 10_000, `reply to ${id}`);
  await s.xmpp.send(xml('iq', { type, id, ...attrs }, child));
  return reply;
}

/** The message inside a carbon of this kind, or undefined. */
function carbon(el: Element, kind: 'sent' | 'received'): Element | undefined {
  return el.is('message') ? (el.getChild(kind, NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message') as Element | undefined) : undefined;
}

/** An HTTPS request to sori's self-signed listener (verification off for this request only). */
function request(url: string, method: string, headers: Record<string, string | number> = {}, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const agent = new https.Agent({ rejectUnauthorized: false });
  return new Promise((ok, fail) => {
    const req = https.request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

describe('carbons, markers, push and upload against sori (@xmpp/client, HTTPS, node-apn)', function () {
  this.timeout(90_000);
  const tls = generateLoopbackCert();
  const p8 = generateP8Key();
  const dir = tempDir('sori-e2e-push-');
  const APNS_TOKEN = 'c'.repeat(64);
  let apns: FakeApns;
  let server: SoriProcess;
  let wssPort: number;
  const open: XmppSession[] = [];
  const users = { alice: 'alice-pw', bob: 'bob-pw', app: 'app-pw' };
  const login = async (user: keyof typeof users, resource: string): Promise<XmppSession> => {
    const s = await connectTcp(server, { username: user, password: users[user], resource });
    open.push(s);
    await s.xmpp.send(xml('presence'));
    return s;
  };

  before(async () => {
    apns = await FakeApns.start({ ...tls, providerKeys: { KEY1234567: p8.publicKey }, topics: ['im.sori.e2e'] });
    wssPort = await freePort();
    server = await startSori({
      users: { 'alice@localhost': users.alice, 'bob@localhost': users.bob, 'app@localhost': users.app },
      config: {
        websocket: { tlsPort: wssPort },
        modules: {
          options: {
            upload: { urlBase: `https://127.0.0.1:${wssPort}/upload/`, maxFileSize: 4096 },
            push: {
              apps: {
                ios: {
                  type: 'apns', bundleId: 'im.sori.e2e', keyFile: dir.write('AuthKey.p8', p8.privateKey), keyId: 'KEY1234567', teamId: 'TEAM123456',
                  address: '127.0.0.1', port: apns.port, ca: dir.write('ca.pem', tls.cert), privacy: { includeSender: true },
                },
              },
            },
          },
        },
      },
    });
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.stop();
  });
  after(async () => {
    await server?.stop();
    await apns?.close();
    dir.remove();
  });

  it('XEP-0280: copies sent and received chat messages to the other carbon-enabled resource, from the bare JID', async () => {
    const a1 = await login('alice', 'one');
    const a2 = await login('alice', 'two');
    const b = await login('bob', 'pc');
    for (const a of [a1, a2]) expect((await iq(a, 'set', {}, xml('enable', { xmlns: NS_CARBONS }))).attrs.type).to.equal('result');

    await a1.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost', id: 'c-out' }, xml('body', {}, 'to bob')));
    await b.waitFor((el) => el.getChildText('body') === 'to bob');
    const sent = await a2.waitFor((el) => carbon(el, 'sent')?.getChildText('body') === 'to bob');
    expect(sent.attrs.from).to.equal('alice@localhost');

    await b.xmpp.send(xml('message', { type: 'chat', to: 'alice@localhost/one', id: 'c-in' }, xml('body', {}, 'to alice one')));
    await a1.waitFor((el) => el.getChildText('body') === 'to alice one');
    const received = await a2.waitFor((el) => carbon(el, 'received')?.getChildText('body') === 'to alice one');
    expect(received.attrs.from).to.equal('alice@localhost');
    expect(a1.received.filter((el) => carbon(el, 'received') !== undefined)).to.have.length(0);
  });

  it('XEP-0333: a displayed marker is routed, carbon-copied and archived', async () => {
    const a1 = await login('alice', 'm1');
    const a2 = await login('alice', 'm2');
    const b = await login('bob', 'm');
    await iq(a2, 'set', {}, xml('enable', { xmlns: NS_CARBONS }));
    await b.xmpp.send(xml('message', { type: 'chat', to: 'alice@localhost/m1', id: 'mk-1' }, xml('body', {}, 'markable'), xml('markable', { xmlns: NS_MARKERS })));
    await a1.waitFor((el) => el.getChildText('body') === 'markable');
    await a1.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost/m', id: 'mk-d' }, xml('displayed', { xmlns: NS_MARKERS, id: 'mk-1' })));
    const routed = await b.waitFor((el) => el.getChild('displayed', NS_MARKERS)?.attrs.id === 'mk-1');
    expect(routed.attrs.from).to.equal('alice@localhost/m1');
    await a2.waitFor((el) => carbon(el, 'sent')?.getChild('displayed', NS_MARKERS)?.attrs.id === 'mk-1', 10_000, 'the sent carbon of the marker');
    // Archived for bob (MAM query as a client makes it).
    const fin = await iq(b, 'set', {}, xml('query', { xmlns: 'urn:xmpp:mam:2', queryid: 'mq' }));
    expect(fin.attrs.type).to.equal('result');
    const results = b.received.filter((el) => el.is('message') && el.getChild('result', 'urn:xmpp:mam:2')?.attrs.queryid === 'mq');
    const markersArchived = results.map((r) => r.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChild('displayed', NS_MARKERS)?.attrs.id);
    expect(markersArchived).to.include('mk-1');
  });

  it('XEP-0363: a slot from upload.localhost, a real HTTPS PUT, and GET returns the same bytes and type; too large is refused', async () => {
    const a = await login('alice', 'up');
    const items = await iq(a, 'get', { to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }));
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.include('upload.localhost');
    const bytes = Buffer.from('%PDF-1.4 sori upload test \u00e9', 'utf8');
    const reply = await iq(a, 'get', { to: 'upload.localhost' }, xml('request', { xmlns: NS_UPLOAD, filename: 'report.pdf', size: String(bytes.length), 'content-type': 'application/pdf' }));
    expect(reply.attrs.type).to.equal('result');
    const slot = reply.getChild('slot', NS_UPLOAD)!;
    const put = slot.getChild('put')!;
    const headers: Record<string, string | number> = { 'content-type': 'application/pdf', 'content-length': bytes.length };
    for (const h of put.getChildren('header')) headers[h.attrs.name as string] = h.getText();
    const putRes = await request(put.attrs.url as string, 'PUT', headers, bytes);
    expect(putRes.status).to.equal(201);
    const getRes = await request(slot.getChild('get')!.attrs.url as string, 'GET');
    expect(getRes.status).to.equal(200);
    expect(getRes.headers['content-type']).to.equal('application/pdf');
    expect(getRes.body.equals(bytes)).to.equal(true);

    const big = await iq(a, 'get', { to: 'upload.localhost' }, xml('request', { xmlns: NS_UPLOAD, filename: 'big.bin', size: '4097' }));
    expect(big.attrs.type).to.equal('error');
    expect(big.getChild('error')!.getChild('file-too-large', NS_UPLOAD)!.getChildText('max-file-size')).to.equal('4096');
  });

  it('XEP-0357 standard: an app server entity receives the summary publish for an offline account and answers it', async () => {
    const app = await login('app', 'srv');
    // The app server's side: @xmpp/client answers the pubsub publish with a result through its iq handler.
    const publishes: Element[] = [];
    // (iqCallee is @xmpp/client's own API; support/types declares only what other suites use.)
    const callee = (app.xmpp as unknown as { iqCallee: { set(ns: string, name: string, fn: (ctx: { stanza: Element }) => boolean): void } }).iqCallee;
    callee.set(NS_PUBSUB, 'pubsub', (ctx) => {
      publishes.push(ctx.stanza);
      return true;
    });
    const bob = await login('bob', 'phone');
    const enabled = await iq(bob, 'set', {}, xml('enable', { xmlns: NS_PUSH, jid: 'app@localhost/srv', node: 'bob-node' }));
    expect(enabled.attrs.type).to.equal('result');
    await bob.stop();
    const alice = await login('alice', 'push');
    await alice.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost', id: 'push-std-1' }, xml('body', {}, 'are you there?')));
    const publish = await app.waitFor((el) => el.is('iq') && el.getChild('pubsub', NS_PUBSUB) !== undefined, 10_000, 'the push publish');
    expect(publish.attrs.from).to.equal('bob@localhost');
    const pub = publish.getChild('pubsub', NS_PUBSUB)!.getChild('publish')!;
    expect(pub.attrs.node).to.equal('bob-node');
    const fields = pub.getChild('item')!.getChild('notification', NS_PUSH)!.getChild('x', 'jabber:x:data')!.getChildren('field');
    const values = Object.fromEntries(fields.map((f) => [f.attrs.var, f.getChildText('value')]));
    expect(values).to.deep.equal({ FORM_TYPE: 'urn:xmpp:push:summary', 'message-count': '1' });
    // The registration stays after a successful publish: a second message is a second push.
    await alice.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost', id: 'push-std-2' }, xml('body', {}, 'hello?')));
    const second = await app.waitFor((el) => el.is('iq') && el !== publish && el.getChild('pubsub', NS_PUBSUB) !== undefined, 10_000, 'the second push');
    const count = second.getChild('pubsub', NS_PUBSUB)!.getChild('publish')!.getChild('item')!.getChild('notification', NS_PUSH)!.getChild('x')!.getChildren('field').find((f) => f.attrs.var === 'message-count');
    expect(count!.getChildText('value')).to.equal('2');
    // The messages themselves are stored offline.
    const back = await login('bob', 'phone2');
    await back.waitFor((el) => el.getChildText('body') === 'hello?', 10_000, 'offline delivery');
  });

  it('XEP-0357 built-in: one APNs push per offline message through node-apn, privacy as configured', async () => {
    const bob = await login('bob', 'ios');
    const form = xml(
      'x',
      { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
      xml('field', { var: 'service' }, xml('value', {}, 'apns')),
      xml('field', { var: 'token' }, xml('value', {}, APNS_TOKEN)),
    );
    expect((await iq(bob, 'set', {}, xml('enable', { xmlns: NS_PUSH, jid: 'push.localhost', node: 'iphone' }, form))).attrs.type).to.equal('result');
    await bob.stop();
    const alice = await login('alice', 'apns');
    const before = apns.requests.length;
    await alice.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost', id: 'apns-1' }, xml('body', {}, 'private words')));
    const [req] = (await apns.script.waitForRequests(before + 1)).slice(before);
    expect(req!.token).to.equal(APNS_TOKEN);
    expect(req!.headers['apns-topic']).to.equal('im.sori.e2e');
    expect(JSON.stringify(req!.payload)).to.contain('alice@localhost').and.not.to.contain('private words');

    await alice.xmpp.send(xml('message', { type: 'chat', to: 'bob@localhost', id: 'apns-2' }, xml('body', {}, 'two')));
    const [req2] = (await apns.script.waitForRequests(before + 2)).slice(before + 1);
    expect(req2!.token).to.equal(APNS_TOKEN);
    expect(req2!.headers['apns-collapse-id']).to.not.equal(req!.headers['apns-collapse-id']);
    // (Removal on 410 Unregistered is proven in src/xmpp/modules/xep-0357-push/push.test.ts, where settling can be awaited.)
  });
});
