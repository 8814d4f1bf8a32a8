import { expect } from 'chai';
import { ApnsProvider } from './apns.js';
import type { ApnsAppConfig, PushNotification, PushPrivacy } from './types.js';
import { FakeApns } from '../testing/push/fake-apns.js';
import { generateLoopbackCert, generateP8Key, tempDir } from '../testing/push/test-tls.js';

const TOKEN = 'a'.repeat(64);
const DEAD_TOKEN = 'd'.repeat(64);
const PRIVATE: PushPrivacy = { includeBody: false, includeSender: false, includeCount: true, genericAlert: 'New message' };

const notification: PushNotification = {
  token: TOKEN,
  messageId: 'msg-1',
  count: 3,
  sender: 'juliet@capulet.example',
  body: 'Wherefore art thou?',
};

describe('ApnsProvider (node-apn against a fake APNs)', () => {
  const tls = generateLoopbackCert();
  const p8 = generateP8Key();
  const dir = tempDir('sori-apns-');
  let fake: FakeApns;
  const providers: ApnsProvider[] = [];

  function provider(privacy: Partial<PushPrivacy> = {}, overrides: Partial<ApnsAppConfig> = {}): ApnsProvider {
    const app: ApnsAppConfig = {
      id: 'ios',
      type: 'apns',
      bundleId: 'im.sori.app',
      keyFile: dir.write('AuthKey_ABC123DEFG.p8', p8.privateKey),
      keyId: 'ABC123DEFG',
      teamId: 'TEAM123456',
      production: false,
      address: '127.0.0.1',
      port: fake.port,
      ca: dir.write('ca.pem', tls.cert),
      requestTimeoutMs: 5000,
      ttlSeconds: 3600,
      privacy: { ...PRIVATE, ...privacy },
      ...overrides,
    };
    const p = new ApnsProvider(app);
    providers.push(p);
    return p;
  }

  beforeEach(async () => {
    fake = await FakeApns.start({ ...tls, providerKeys: { ABC123DEFG: p8.publicKey }, topics: ['im.sori.app'] });
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    await fake.close();
  });
  after(() => dir.remove());

  it('delivers with topic, a signed provider JWT and a generic alert by default', async () => {
    const result = await provider().send(notification);
    expect(result.status).to.equal('delivered');
    expect(fake.requests).to.have.length(1);
    const req = fake.requests[0]!;
    expect(req.token).to.equal(TOKEN);
    expect(req.headers['apns-topic']).to.equal('im.sori.app');
    expect(req.headers['apns-push-type']).to.equal('alert');
    expect(req.headers['apns-collapse-id']).to.equal('msg-1');
    expect(req.jwt.header).to.include({ alg: 'ES256', kid: 'ABC123DEFG' });
    expect(req.jwt.claims).to.include({ iss: 'TEAM123456' });
    expect(req.payload.aps).to.deep.equal({ alert: 'New message', sound: 'default', badge: 3, 'mutable-content': 1 });
    expect(req.payload.sori).to.deep.equal({ 'message-id': 'msg-1', count: 3 });
    expect(JSON.stringify(req.payload)).not.to.contain('Wherefore').and.not.to.contain('juliet');
  });

  it('shortens a long body to fit the 4 KB payload, on a character boundary, so the push still goes out', async () => {
    const long = '漢字とemoji😀'.repeat(600);
    const result = await provider({ includeBody: true, includeSender: true }).send({ ...notification, body: long });
    expect(result.status).to.equal('delivered');
    const body = (fake.requests[0]!.payload.sori as { body: string }).body;
    expect(body.endsWith('…')).to.equal(true);
    expect(long.startsWith(body.slice(0, -1))).to.equal(true);
    expect(Buffer.byteLength(body)).to.be.at.most(1000);
  });

  it('still pushes a message whose sender made its id too long for the payload, without the id', async () => {
    const result = await provider({ includeBody: true, includeSender: true }).send({ ...notification, messageId: 'x'.repeat(5000) });
    expect(result.status).to.equal('delivered');
    const { payload, headers } = fake.requests[0]!;
    expect(payload.sori).to.deep.equal({ count: 3, sender: 'juliet@capulet.example', body: 'Wherefore art thou?' });
    expect(headers).not.to.have.property('apns-collapse-id');
  });

  it('includes body and sender only when the app allows it', async () => {
    await provider({ includeBody: true, includeSender: true }).send(notification);
    const { payload } = fake.requests[0]!;
    expect(payload.aps).to.deep.include({
      alert: { title: 'juliet@capulet.example', body: 'Wherefore art thou?' },
      'thread-id': 'juliet@capulet.example',
    });
    expect(payload.sori).to.deep.equal({ 'message-id': 'msg-1', count: 3, sender: 'juliet@capulet.example', body: 'Wherefore art thou?' });
  });

  it('omits the badge when counts are disabled', async () => {
    await provider({ includeCount: false }).send(notification);
    expect(fake.requests[0]!.payload.aps).not.to.have.property('badge');
    expect(fake.requests[0]!.payload.sori).to.deep.equal({ 'message-id': 'msg-1' });
  });

  it('maps 410 Unregistered and 400 BadDeviceToken to invalid-token', async () => {
    fake.script.markDead(DEAD_TOKEN);
    const p = provider();
    expect(await p.send({ ...notification, token: DEAD_TOKEN })).to.deep.equal({ status: 'invalid-token', reason: 'Unregistered' });
    expect(await p.send({ ...notification, token: 'not-hex' })).to.deep.equal({ status: 'invalid-token', reason: 'BadDeviceToken' });
  });

  it('maps 503 to a transient failure without retrying inside node-apn', async () => {
    fake.script.failNext('unavailable');
    const p = provider();
    expect(await p.send(notification)).to.deep.equal({ status: 'failed-transient', reason: 'ServiceUnavailable' });
    expect(fake.requests).to.have.length(1);
    expect((await p.send(notification)).status).to.equal('delivered');
  });

  it('maps other APNs rejections to a permanent failure', async () => {
    // The fake only allows im.sori.app.
    const other = provider({}, { bundleId: 'im.other.app' });
    expect(await other.send(notification)).to.deep.equal({ status: 'failed-permanent', reason: 'TopicDisallowed' });
  });

  it('reports a closed endpoint as a transient failure', async () => {
    const p = provider();
    await fake.close();
    const result = await p.send(notification);
    expect(result.status).to.equal('failed-transient');
    fake = await FakeApns.start({ ...tls });
  });
});
