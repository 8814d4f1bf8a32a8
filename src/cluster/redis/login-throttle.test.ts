import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config.js';
import { startSori, type Sori } from '../../sori.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { RawClient } from '../../testing/raw-client.js';
import { redisTargets, type RedisDeployment } from '../../testing/redis-cluster-nodes.js';
import { flushRedis, redisService } from '../../testing/services/redis.js';
import { parseJid } from '../../util/jid.js';
import { connectRedis } from './connection.js';
import { loginFailuresKey } from './keys.js';
import { RedisLoginThrottle } from './login-throttle.js';

for (const target of redisTargets) {
  describe(`RedisLoginThrottle on ${target.name}`, function () {
    this.timeout(60_000);
    let deployment: RedisDeployment;
    const opened: RedisLoginThrottle[] = [];
    const throttle = (nodeId: string, maxFailures = 3, windowMs = 60_000): RedisLoginThrottle => {
      const t = new RedisLoginThrottle({ nodeId, redis: { urls: deployment.urls, cluster: deployment.cluster }, maxFailures, windowMs });
      opened.push(t);
      return t;
    };

    before(async () => {
      deployment = await target.start();
    });
    beforeEach(() => flushRedis(deployment.ports));
    afterEach(() => {
      for (const t of opened.splice(0)) t.close();
    });

    it("blocks a key on every node once the nodes' failures together reach the limit", async () => {
      const [a, b, c] = [throttle('a'), throttle('b'), throttle('c')];
      await a.fail('ip:192.0.2.1', 'user:bob@example.com');
      await b.fail('ip:192.0.2.1', 'user:bob@example.com');
      expect(await c.isBlocked('user:bob@example.com')).to.equal(false);
      await a.fail('ip:192.0.2.1', 'user:bob@example.com');
      // No node saw three failures itself.
      expect(await c.isBlocked('user:bob@example.com')).to.equal(true);
      expect(await b.isBlocked('ip:192.0.2.1')).to.equal(true);
      expect(await c.isBlocked('user:alice@example.com')).to.equal(false);
    });

    it('forgets a failure once it is older than the window', async () => {
      const [a, b] = [throttle('a', 2, 400), throttle('b', 2, 400)];
      await a.fail('user:bob@example.com');
      await a.fail('user:bob@example.com');
      expect(await b.isBlocked('user:bob@example.com')).to.equal(true);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await b.isBlocked('user:bob@example.com')).to.equal(false);
    });

    it('clears an account on every node when it logs in on one', async () => {
      const [a, b] = [throttle('a', 2), throttle('b', 2)];
      await a.fail('user:bob@example.com');
      await b.succeed('user:bob@example.com');
      await a.fail('user:bob@example.com');
      expect(await b.isBlocked('user:bob@example.com')).to.equal(false);
    });

    it('admits a login in one step: refused while blocked anywhere, and once admitted the earlier failures are gone', async () => {
      const [a, b] = [throttle('a', 2), throttle('b', 2)];
      await a.fail('user:bob@example.com');
      expect(await b.admit('user:bob@example.com')).to.equal(true);
      await a.fail('user:bob@example.com');
      expect(await b.isBlocked('user:bob@example.com')).to.equal(false);
      await a.fail('user:bob@example.com');
      expect(await b.admit('user:bob@example.com')).to.equal(false);
      expect(await a.isBlocked('user:bob@example.com')).to.equal(true);
    });

    it('keeps no more entries per key than the limit, however many guesses arrive', async () => {
      const a = throttle('a', 3);
      for (let i = 0; i < 40; i++) await a.fail('ip:192.0.2.9');
      const redis = connectRedis({ urls: deployment.urls, cluster: deployment.cluster }, 'login-throttle-test');
      try {
        expect(await redis.zcard(loginFailuresKey('ip:192.0.2.9'))).to.equal(3);
        expect(await redis.pttl(loginFailuresKey('ip:192.0.2.9'))).to.be.within(1, 60_000);
      } finally {
        redis.disconnect();
      }
    });
  });
}

describe('RedisLoginThrottle without Redis', function () {
  this.timeout(20_000);

  it("neither hangs a login nor lifts the throttle: the node's own count decides", async () => {
    // Nothing listens on port 1: every command fails or times out.
    const t = new RedisLoginThrottle({ nodeId: 'alone', redis: { urls: ['redis://127.0.0.1:1'] }, maxFailures: 2, windowMs: 60_000, timeoutMs: 200 });
    try {
      const within = <T>(p: Promise<T>): Promise<T | 'hung'> => Promise.race([p, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000))]);
      expect(await within(t.isBlocked('user:bob@example.com'))).to.equal(false);
      await within(t.fail('user:bob@example.com'));
      await within(t.fail('user:bob@example.com'));
      expect(await within(t.isBlocked('user:bob@example.com'))).to.equal(true);
    } finally {
      t.close();
    }
  });
});

describe('failed logins across two sori nodes on one Redis (real sockets)', function () {
  this.timeout(60_000);
  const nodes: Sori[] = [];
  const ports: number[] = [];
  let redisPort: number;

  before(async () => {
    const redis = await redisService();
    redisPort = redis.port;
    await flushRedis([redisPort]);
    const store = new MemoryStore();
    for (const nodeId of ['n1', 'n2']) {
      const dataDir = mkdtempSync(join(tmpdir(), `sori-throttle-${nodeId}-`));
      const config = loadConfig({
        env: {},
        overrides: {
          server: { dataDir, logLevel: 'error', nodeId },
          storage: { backend: 'memory' },
          c2s: { maxLoginFailures: 3 },
          cluster: { redis: [redis.url], livenessSeconds: 5 },
        },
      });
      const sori = await startSori(config, { ephemeralPorts: true, store });
      nodes.push(sori);
      ports.push(sori.listening.ports['c2s-tls']!);
    }
    await nodes[0]!.server.createAccount(parseJid('bob@localhost'), 'secret');
  });
  after(async () => {
    for (const n of nodes) await n.stop();
  });

  const attempt = async (port: number, password: string): Promise<string> => {
    const c = await RawClient.connect(port, { tls: true });
    try {
      c.open();
      await c.features();
      const answer = await c.scram('bob', password);
      return answer.name === 'success' ? 'success' : (answer.elements()[0]?.name ?? answer.name);
    } finally {
      c.destroy();
    }
  };
  const forgetAddress = async (): Promise<void> => {
    for (const n of nodes) await n.server.throttle.succeed('ip:127.0.0.1');
  };

  it('refuses the right password on one node after the limit of wrong ones was spread over both', async () => {
    expect(await attempt(ports[0]!, 'wrong')).to.equal('not-authorized');
    expect(await attempt(ports[1]!, 'wrong')).to.equal('not-authorized');
    expect(await attempt(ports[0]!, 'wrong')).to.equal('not-authorized');
    await forgetAddress();
    // Each node saw fewer than three failures for bob itself.
    expect(await attempt(ports[1]!, 'secret')).to.equal('temporary-auth-failure');
    await nodes[1]!.server.throttle.succeed('user:bob@localhost');
    expect(await attempt(ports[1]!, 'secret')).to.equal('success');
  });
});
