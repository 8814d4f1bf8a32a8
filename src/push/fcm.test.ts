import { expect } from 'chai';
import type { Credential } from 'firebase-admin/app';
import { FcmProvider } from './fcm.js';
import type { FcmAppConfig, PushNotification, PushPrivacy } from './types.js';
import { FakeFcm } from '../testing/push/fake-fcm.js';
import { generateLoopbackCert } from '../testing/push/test-tls.js';

const ACCESS_TOKEN = 'ya29.test-access-token';
const PRIVATE: PushPrivacy = { includeBody: false, includeSender: false, includeCount: true, genericAlert: 'New message' };

/** Stands in for a service account: firebase-admin asks it for OAuth2 access tokens. */
const credential: Credential = {
  getAccessToken: async () => ({ access_token: ACCESS_TOKEN, expires_in: 3600 }),
};

const notification: PushNotification = {
  token: 'fcm-registration-token-1',
  messageId: 'msg-1',
  count: 2,
  sender: 'romeo@montague.example',
  body: 'It is the east',
};

describe('FcmProvider (firebase-admin against a fake FCM)', () => {
  const tls = generateLoopbackCert();
  let fake: FakeFcm;
  const providers: FcmProvider[] = [];
  let appCounter = 0;

  function provider(overrides: Partial<FcmAppConfig> = {}, withCredential = credential): FcmProvider {
    appCounter += 1;
    const app: FcmAppConfig = {
      id: `android-${appCounter}`,
      type: 'fcm',
      projectId: 'sori-test',
      notification: false,
      endpoint: { host: '127.0.0.1', port: fake.port, ca: tls.cert },
      ttlSeconds: 600,
      privacy: PRIVATE,
      ...overrides,
    };
    const p = new FcmProvider(app, { credential: withCredential });
    providers.push(p);
    return p;
  }

  beforeEach(async () => {
    fake = await FakeFcm.start({ ...tls, accessToken: ACCESS_TOKEN });
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    await fake.close();
  });

  it('sends a data-only, high-priority message with the access token by default', async () => {
    const result = await provider().send(notification);
    expect(result).to.deep.equal({ status: 'delivered', id: 'projects/sori-test/messages/1' });
    const req = fake.requests[0]!;
    expect(req.projectId).to.equal('sori-test');
    expect(req.authorization).to.equal(`Bearer ${ACCESS_TOKEN}`);
    expect(req.message.token).to.equal('fcm-registration-token-1');
    expect(req.message.data).to.deep.equal({ 'message-id': 'msg-1', count: '2' });
    expect(req.message).not.to.have.property('notification');
    expect(req.message.android).to.deep.equal({ priority: 'high', ttl: '600s', collapse_key: 'msg-1' });
    expect(JSON.stringify(req.message)).not.to.contain('It is the east').and.not.to.contain('romeo');
  });

  it('adds a visible notification with body and sender only when allowed', async () => {
    await provider({ notification: true, privacy: { ...PRIVATE, includeBody: true, includeSender: true } }).send(notification);
    const { message } = fake.requests[0]!;
    expect(message.notification).to.deep.equal({ title: 'romeo@montague.example', body: 'It is the east' });
    expect(message.data).to.deep.equal({ 'message-id': 'msg-1', count: '2', sender: 'romeo@montague.example', body: 'It is the east' });
  });

  it('shows the generic alert when notifications are on but the body is private', async () => {
    await provider({ notification: true }).send(notification);
    expect(fake.requests[0]!.message.notification).to.deep.equal({ body: 'New message' });
  });

  it('passes app-level apns settings through to the message', async () => {
    await provider({ apns: { headers: { 'apns-push-type': 'background' }, payload: { 'x-app': 'sori' } } }).send(notification);
    const apns = fake.requests[0]!.message.apns as { headers: Record<string, string>; payload: Record<string, unknown> };
    expect(apns.headers).to.deep.equal({ 'apns-priority': '5', 'apns-push-type': 'background' });
    expect(apns.payload).to.deep.equal({ aps: { 'mutable-content': 1, 'content-available': 1, badge: 2 }, 'x-app': 'sori' });
  });

  it('maps UNREGISTERED to invalid-token', async () => {
    fake.script.markDead('dead-token');
    const result = await provider().send({ ...notification, token: 'dead-token' });
    expect(result.status).to.equal('invalid-token');
  });

  it('maps INVALID_ARGUMENT to invalid-token only when FCM says the token is bad, not for an oversized message', async () => {
    const p = provider();
    expect((await p.send({ ...notification, token: 'not a token!' })).status).to.equal('invalid-token');
    const tooBig = { ...notification, sender: 'x'.repeat(4100) };
    expect((await provider({ privacy: { ...PRIVATE, includeSender: true } }).send(tooBig)).status).to.equal('failed-permanent');
  });

  it('still pushes a message whose sender made its id too long for the payload, without the id', async () => {
    const result = await provider().send({ ...notification, messageId: 'x'.repeat(5000) });
    expect(result.status).to.equal('delivered');
    const { message } = fake.requests[0]!;
    expect(message.data).to.deep.equal({ count: '2' });
    expect(message.android).to.deep.equal({ priority: 'high', ttl: '600s' });
  });

  it('maps INTERNAL to a transient failure', async () => {
    fake.script.failNext('internal');
    const p = provider();
    expect((await p.send(notification)).status).to.equal('failed-transient');
    expect((await p.send(notification)).status).to.equal('delivered');
  });

  it('maps a rejected access token to a permanent failure', async () => {
    const wrong: Credential = { getAccessToken: async () => ({ access_token: 'stolen', expires_in: 3600 }) };
    const p = provider({}, wrong);
    expect((await p.send(notification)).status).to.equal('failed-permanent');
  });

  it('reports a closed endpoint as a transient failure', async () => {
    const p = provider();
    await fake.close();
    expect((await p.send(notification)).status).to.equal('failed-transient');
    fake = await FakeFcm.start({ ...tls, accessToken: ACCESS_TOKEN });
  });
});
