import { expect } from 'chai';
import { parsePushApps } from './config.js';
import { ConfigError } from '../util/options.js';
import { tempDir } from '../testing/push/test-tls.js';

const apnsApp = { id: 'ios', type: 'apns', bundleId: 'im.sori.app', keyFile: '/etc/sori/AuthKey.p8', keyId: 'ABC123DEFG', teamId: 'TEAM123456' };
const fcmApp = { id: 'android', type: 'fcm', projectId: 'sori-prod' };

describe('parsePushApps', () => {
  it('applies defaults, with private-by-default privacy', () => {
    const [ios, android] = parsePushApps([apnsApp, fcmApp]);
    expect(ios).to.include({ id: 'ios', type: 'apns', production: false, ttlSeconds: 86_400, requestTimeoutMs: 5000, address: undefined });
    expect(ios!.privacy).to.deep.equal({ includeBody: false, includeSender: false, includeCount: true, genericAlert: 'New message' });
    expect(android).to.include({ id: 'android', type: 'fcm', projectId: 'sori-prod', notification: false, endpoint: undefined });
  });

  it('keeps explicit privacy choices and reads the endpoint CA file', () => {
    const dir = tempDir('sori-push-config-');
    try {
      const endpointCa = dir.write('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const [android] = parsePushApps([{ ...fcmApp, privacy: { includeBody: true }, endpointHost: 'fcm.relay.example', endpointCa }]);
      expect(android!.privacy.includeBody).to.equal(true);
      expect(android!.type === 'fcm' && android!.endpoint).to.deep.equal({ host: 'fcm.relay.example', port: 443, ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
    } finally {
      dir.remove();
    }
  });

  it('names the missing, unknown or duplicated key', () => {
    const { keyId: _omitted, ...noKeyId } = apnsApp;
    expect(() => parsePushApps([noKeyId])).to.throw(ConfigError, 'push.apps[0].keyId: required');
    expect(() => parsePushApps([{ ...fcmApp, projectID: 'x' }])).to.throw(ConfigError, 'push.apps[0].projectID: unknown option');
    expect(() => parsePushApps([{ ...fcmApp, privacy: { showBody: true } }])).to.throw(ConfigError, 'push.apps[0].privacy.showBody');
    expect(() => parsePushApps([{ ...fcmApp, type: 'webpush' }])).to.throw(ConfigError, 'push.apps[0].type');
    expect(() => parsePushApps([fcmApp, fcmApp])).to.throw(ConfigError, 'duplicate app id "android"');
  });
});
