import { expect } from 'chai';
import type { Credential } from 'firebase-admin/app';
import { PushDispatcher, type PushDispatcherOptions } from './dispatcher.js';
import { ApnsProvider } from './apns.js';
import { FcmProvider } from './fcm.js';
import { createPushProviders } from './index.js';
import { parsePushApps } from './config.js';
import type { PushNotification, PushPrivacy, PushProvider, PushResult } from './types.js';
import { FakeApns } from '../testing/push/fake-apns.js';
import { FakeFcm } from '../testing/push/fake-fcm.js';
import { generateLoopbackCert, generateP8Key, tempDir } from '../testing/push/test-tls.js';

const PRIVACY: PushPrivacy = { includeBody: false, includeSender: false, includeCount: true, genericAlert: 'New message' };
const ACCESS_TOKEN = 'ya29.dispatcher-test';
const credential: Credential = { getAccessToken: async () => ({ access_token: ACCESS_TOKEN, expires_in: 3600 }) };

function push(token: string, messageId = 'm1'): PushNotification {
  return { token, messageId, count: 1 };
}

interface Settled {
  appId: string;
  token: string;
  result: PushResult;
}

describe('PushDispatcher (real node-apn and firebase-admin against fakes)', () => {
  const tls = generateLoopbackCert();
  const p8 = generateP8Key();
  const dir = tempDir('sori-dispatch-');
  const keyFile = dir.write('AuthKey.p8', p8.privateKey);
  const caFile = dir.write('ca.pem', tls.cert);
  let apns: FakeApns;
  let fcm: FakeFcm;
  let dispatcher: PushDispatcher | undefined;
  let settled: Settled[];
  let invalidated: Array<[string, string]>;
  let settledWaiters: Array<() => void>;

  function apnsProvider(id: string, port: number): ApnsProvider {
    return new ApnsProvider({
      id,
      type: 'apns',
      bundleId: 'im.sori.app',
      keyFile,
      keyId: 'KEYID00001',
      teamId: 'TEAM000001',
      production: false,
      address: '127.0.0.1',
      port,
      ca: caFile,
      requestTimeoutMs: 60_000,
      ttlSeconds: 60,
      privacy: PRIVACY,
    });
  }

  function fcmProvider(id: string): FcmProvider {
    const endpoint = { host: '127.0.0.1', port: fcm.port, ca: tls.cert };
    return new FcmProvider({ id, type: 'fcm', projectId: 'sori-test', notification: false, endpoint, ttlSeconds: 60, privacy: PRIVACY }, { credential });
  }

  function start(providers: Record<string, PushProvider>, options: Partial<PushDispatcherOptions> = {}): PushDispatcher {
    dispatcher = new PushDispatcher(new Map(Object.entries(providers)), { baseDelayMs: 1, ...options }, {
      onInvalidToken: (appId, token) => invalidated.push([appId, token]),
      onSettled: (appId, n, result) => {
        settled.push({ appId, token: n.token, result });
        for (const wake of settledWaiters.splice(0)) wake();
      },
    });
    return dispatcher;
  }

  async function waitSettled(count: number): Promise<Settled[]> {
    while (settled.length < count) await new Promise<void>((resolve) => settledWaiters.push(resolve));
    return settled;
  }

  beforeEach(async () => {
    settled = [];
    invalidated = [];
    settledWaiters = [];
    apns = await FakeApns.start({ ...tls, providerKeys: { KEYID00001: p8.publicKey } });
    fcm = await FakeFcm.start({ ...tls, accessToken: ACCESS_TOKEN });
  });
  afterEach(async () => {
    await dispatcher?.close();
    dispatcher = undefined;
    await Promise.all([apns.close(), fcm.close()]);
  });
  after(() => dir.remove());

  it('delivers to APNs and FCM apps built from config, and counts them', async () => {
    const apps = parsePushApps([
      { id: 'ios', type: 'apns', bundleId: 'im.sori.app', keyFile, keyId: 'KEYID00001', teamId: 'TEAM000001', address: '127.0.0.1', port: apns.port, ca: caFile },
      { id: 'android', type: 'fcm', projectId: 'sori-test', endpointHost: '127.0.0.1', endpointPort: fcm.port, endpointCa: caFile },
    ]);
    const d = start(Object.fromEntries(await createPushProviders(apps, { credential })));
    expect(d.dispatch('ios', push('a'.repeat(64)))).to.equal(true);
    expect(d.dispatch('android', push('fcm-token'))).to.equal(true);
    await d.idle();
    expect(d.counters).to.deep.equal({ sent: 2, failed: 0, retried: 0, invalidated: 0, dropped: 0 });
    expect(apns.requests.map((r) => r.token)).to.deep.equal(['a'.repeat(64)]);
    expect(fcm.requests.map((r) => r.message.token)).to.deep.equal(['fcm-token']);
  });

  it('reports an APNs 410 and an FCM UNREGISTERED token once each, without retrying', async () => {
    apns.script.markDead('d'.repeat(64));
    fcm.script.markDead('dead-fcm');
    const d = start({ ios: apnsProvider('ios', apns.port), android: fcmProvider('android') });
    d.dispatch('ios', push('d'.repeat(64)));
    d.dispatch('android', push('dead-fcm'));
    await d.idle();
    expect(invalidated).to.have.deep.members([
      ['ios', 'd'.repeat(64)],
      ['android', 'dead-fcm'],
    ]);
    expect(apns.requests).to.have.length(1);
    expect(fcm.requests).to.have.length(1);
    expect(d.counters).to.include({ invalidated: 2, failed: 2, retried: 0, sent: 0 });
  });

  it('retries a 503 with backoff and then delivers', async () => {
    apns.script.failNext('unavailable', 2);
    const d = start({ ios: apnsProvider('ios', apns.port) }, { maxAttempts: 5 });
    d.dispatch('ios', push('a'.repeat(64)));
    await d.idle();
    expect(apns.requests).to.have.length(3);
    expect(settled.map((s) => s.result.status)).to.deep.equal(['delivered']);
    expect(d.counters).to.include({ sent: 1, retried: 2, failed: 0 });
  });

  it('gives up after maxAttempts transient failures', async () => {
    fcm.script.failNext('internal', 10);
    const d = start({ android: fcmProvider('android') }, { maxAttempts: 3 });
    d.dispatch('android', push('fcm-token'));
    await d.idle();
    expect(fcm.requests).to.have.length(3);
    expect(settled.map((s) => s.result.status)).to.deep.equal(['failed-transient']);
    expect(d.counters).to.include({ sent: 0, retried: 2, failed: 1 });
  });

  it('cuts off an unanswered attempt and counts it as transient', async () => {
    apns.script.hangForever();
    const d = start({ ios: apnsProvider('ios', apns.port) }, { maxAttempts: 2, requestTimeoutMs: 50 });
    d.dispatch('ios', push('a'.repeat(64)));
    await d.idle();
    expect(apns.requests).to.have.length(2);
    expect(settled.map((s) => s.result)).to.deep.equal([{ status: 'failed-transient', reason: 'timeout' }]);
  });

  it("does not let a stuck endpoint hold back another app's pushes", async () => {
    const stuck = await FakeApns.start({ ...tls });
    stuck.script.hangForever();
    try {
      const d = start({ stuck: apnsProvider('stuck', stuck.port), ios: apnsProvider('ios', apns.port), android: fcmProvider('android') }, { concurrencyPerApp: 1 });
      for (let i = 0; i < 3; i++) d.dispatch('stuck', push('e'.repeat(64), `stuck-${i}`));
      d.dispatch('ios', push('a'.repeat(64)));
      d.dispatch('android', push('fcm-token'));
      await waitSettled(2);
      expect(settled.map((s) => s.appId)).to.have.members(['ios', 'android']);
      // The stuck app still holds its first push; its other two wait behind it.
      expect(await stuck.script.waitForRequests(1)).to.have.length(1);
      expect(d.counters.sent).to.equal(2);
    } finally {
      await dispatcher?.close();
      await stuck.close();
    }
  });

  it('never blocks dispatch: unknown apps and full queues are dropped and counted', async () => {
    apns.script.hangForever();
    const d = start({ ios: apnsProvider('ios', apns.port) }, { concurrencyPerApp: 1, maxQueuedPerApp: 1 });
    expect(d.dispatch('nope', push('x'))).to.equal(false);
    expect(d.dispatch('ios', push('a'.repeat(64), 'in-flight'))).to.equal(true);
    expect(d.dispatch('ios', push('a'.repeat(64), 'queued'))).to.equal(true);
    expect(d.dispatch('ios', push('a'.repeat(64), 'overflow'))).to.equal(false);
    expect(d.counters.dropped).to.equal(2);
    await apns.close();
  });

  it('close() abandons pending retries, refuses new pushes and closes providers', async () => {
    apns.script.failNext('unavailable', 1);
    const d = start({ ios: apnsProvider('ios', apns.port) }, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    d.dispatch('ios', push('a'.repeat(64)));
    await apns.script.waitForRequests(1);
    while (d.counters.retried === 0) await new Promise((resolve) => setImmediate(resolve));
    await d.close();
    await d.idle();
    expect(d.dispatch('ios', push('a'.repeat(64)))).to.equal(false);
    expect(apns.requests).to.have.length(1);
    expect(settled).to.deep.equal([]);
  });
});
