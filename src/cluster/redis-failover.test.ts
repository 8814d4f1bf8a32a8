import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { eventually } from '../testing/eventually.js';
import type { TestClient } from '../testing/harness.js';
import { InProcessCluster, type ClusterTestNode } from '../testing/in-process-cluster.js';
import { createRedisClusterNode, startRedisClusterNode, stopRedisClusterNode } from './redis/index.js';
import { offlineRecorder } from '../testing/offline-recorder.js';
import type { RedisDeployment } from '../testing/redis-cluster-nodes.js';
import { privateRedis, privateSentinel, redisCli, type PrivateRedis, type PrivateSentinel } from '../testing/services/redis.js';
import type { XmlElement } from '../util/xml.js';
import presence from '../xmpp/modules/rfc6121-presence/index.js';
import roster from '../xmpp/modules/rfc6121-roster/index.js';

/**
 * Stands in for a DNS name or VIP in front of a primary and its replica: new
 * connections go to the current target; connections made before a repoint
 * stay with the server they reached, as TCP connections do when DNS moves.
 */
class RepointableProxy {
  private target: number;
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  constructor(target: number) {
    this.target = target;
  }

  async start(): Promise<void> {
    this.server = createServer((downstream) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [downstream, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          downstream.destroy();
          upstream.destroy();
        });
      }
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    this.port = address.port;
  }

  repoint(target: number): void {
    this.target = target;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const MODULES = [roster, presence];

async function replicate(replica: number, primary: number): Promise<void> {
  await redisCli(replica, 'replicaof', '127.0.0.1', String(primary));
  await eventually(async () => expect(await redisCli(replica, 'info', 'replication')).to.match(/master_link_status:up/), 15_000);
}

function offset(info: string, field: string): number {
  const m = new RegExp(`${field}:(\\d+)`).exec(info);
  if (m === null) throw new Error(`no ${field} in INFO replication`);
  return Number(m[1]);
}

/**
 * Waits until the replica has applied what the primary had written when called, so that the failover loses
 * nothing the test wrote. (WAIT would not do: it counts only the writes of the connection that sends it.)
 */
async function caughtUp(replica: number, primary: number, auth: string[] = []): Promise<void> {
  const written = offset(await redisCli(primary, ...auth, 'info', 'replication'), 'master_repl_offset');
  await eventually(async () => expect(offset(await redisCli(replica, ...auth, 'info', 'replication'), 'slave_repl_offset')).to.be.at.least(written), 15_000, 50);
}

/** redis-cli's options to authenticate as the default user with `password`. */
function cliAuth(password: string): string[] {
  return ['-a', password, '--no-auth-warning'];
}

/** What starting a node on `urls` and master `sentinel` fails with (its connections closed), or 'started'. */
async function startFailure(urls: string[], sentinel: string): Promise<string> {
  const node = createRedisClusterNode({ nodeId: 'refused', redis: { urls, sentinelName: sentinel, waitMs: 2000 } });
  try {
    await startRedisClusterNode(node);
    return 'started';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await stopRedisClusterNode(node);
  }
}

/** Nodes n1 and n2, recording into one list what either sends to offline storage. */
async function twoUsers(cluster: InProcessCluster): Promise<{ n1: ClusterTestNode; n2: ClusterTestNode; offline: XmlElement[] }> {
  const offline: XmlElement[] = [];
  const n1 = await cluster.start('n1', [...MODULES, offlineRecorder(offline)]);
  const n2 = await cluster.start('n2', [...MODULES, offlineRecorder(offline)]);
  return { n1, n2, offline };
}

/** What a user sees after the failover: a message across nodes arrives live, and a new login on either node is reachable from the other. */
async function expectServedAfterFailover(n1: ClusterTestNode, n2: ClusterTestNode, offline: XmlElement[], alice: TestClient, bob: TestClient): Promise<void> {
  await alice.send('<message to="bob@localhost/b" type="chat" id="after"><body>after the failover</body></message>');
  await bob.waitFor((el) => el.getChildText('body') === 'after the failover', 10_000);
  const carol = await n2.ts.login('carol@localhost/c');
  await eventually(async () => expect((await n1.locator.resource('carol@localhost/c'))?.node).to.equal('n2'), 10_000, 100);
  await alice.send('<message to="carol@localhost/c" type="chat" id="new"><body>to a login made after it</body></message>');
  await carol.waitFor((el) => el.getChildText('body') === 'to a login made after it', 10_000);
  expect(offline.map((m) => m.getChildText('body'))).to.deep.equal([]);
}

describe('a cluster on Redis that fails over', function () {
  this.timeout(90_000);
  let primary: PrivateRedis;
  let replica: PrivateRedis;
  let deployment: RedisDeployment | undefined;
  const stoppers: Array<() => Promise<void>> = [];
  let cluster: InProcessCluster | undefined;

  beforeEach(async function () {
    primary = await privateRedis();
    replica = await privateRedis();
    stoppers.push(() => primary.stop(), () => replica.stop());
    await replicate(replica.port, primary.port);
  });
  afterEach(async function () {
    await cluster?.stopAll();
    for (const stop of stoppers.splice(0).reverse()) await stop();
  });

  it('serves on through a standalone URL whose address moves to the promoted replica', async function () {
    const proxy = new RepointableProxy(primary.port);
    await proxy.start();
    stoppers.push(() => proxy.stop());
    deployment = { urls: [`redis://127.0.0.1:${proxy.port}`], cluster: false, ports: [primary.port] };
    // Liveness longer than the failover: no node is declared dead, so only the connections can stop delivery.
    cluster = new InProcessCluster(() => deployment!, { livenessSeconds: 6 });
    const { n1, n2, offline } = await twoUsers(cluster);
    const alice = await n1.ts.login('alice@localhost/a');
    const bob = await n2.ts.login('bob@localhost/b');
    await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'));
    await alice.send('<message to="bob@localhost/b" type="chat" id="before"><body>before</body></message>');
    await bob.waitFor((el) => el.getChildText('body') === 'before');
    await caughtUp(replica.port, primary.port);

    // What ElastiCache does: promote the replica, move the name to it, demote the old primary; every connection
    // the nodes hold still leads to the old primary, which now refuses writes and ends the inbox reads under way.
    await redisCli(replica.port, 'replicaof', 'no', 'one');
    proxy.repoint(replica.port);
    await replicate(primary.port, replica.port);

    await expectServedAfterFailover(n1, n2, offline, alice, bob);
  });

  it('serves on through Redis Sentinel when it fails over, with every node on the new primary at once', async function () {
    const sentinel: PrivateSentinel = await privateSentinel('mymaster', primary.port);
    stoppers.push(() => sentinel.stop());
    // Sentinel promotes only a replica it has seen in sync.
    await eventually(async () => expect(await redisCli(sentinel.port, 'sentinel', 'replicas', 'mymaster')).to.match(/master-link-status\s+ok/), 20_000, 200);
    deployment = { urls: [sentinel.url], cluster: false, ports: [primary.port] };
    cluster = new InProcessCluster(() => deployment!, { redisSentinel: 'mymaster' });
    const { n1, n2, offline } = await twoUsers(cluster);
    const alice = await n1.ts.login('alice@localhost/a');
    const bob = await n2.ts.login('bob@localhost/b');
    await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'));
    await alice.send('<message to="bob@localhost/b" type="chat" id="before"><body>before</body></message>');
    await bob.waitFor((el) => el.getChildText('body') === 'before');
    await caughtUp(replica.port, primary.port);

    await redisCli(sentinel.port, 'sentinel', 'failover', 'mymaster');
    await eventually(async () => expect(await redisCli(sentinel.port, 'sentinel', 'get-master-addr-by-name', 'mymaster')).to.include(String(replica.port)), 30_000, 200);
    // Sentinel demotes the old primary, closing its clients, only some 10 s after naming the new one. A node that
    // connects meanwhile (one restarted or added then) reaches the new primary; the others must be there too, or
    // their alive keys lapse there and it declares them dead, and what it sends them goes where they do not read.
    const n3 = await cluster.start('n3', [...MODULES, offlineRecorder(offline)]);
    const dave = await n3.ts.login('dave@localhost/d');
    await dave.send('<message to="bob@localhost/b" type="chat" id="during"><body>while the old primary is still up</body></message>');
    await bob.waitFor((el) => el.getChildText('body') === 'while the old primary is still up', 10_000);
    expect(offline.map((m) => m.getChildText('body'))).to.deep.equal([]);

    // Over once Sentinel has made the old primary a replica of the new one.
    await eventually(async () => expect(await redisCli(primary.port, 'info', 'replication')).to.match(/master_link_status:up/), 30_000, 200);
    await expectServedAfterFailover(n1, n2, offline, alice, bob);
  });

  it('starts on password-protected sentinels only with their password, and serves on through their failover with the primary\'s own', async function () {
    const primaryAuth = cliAuth('data-secret');
    for (const port of [primary.port, replica.port]) {
      await redisCli(port, 'config', 'set', 'masterauth', 'data-secret');
      await redisCli(port, 'config', 'set', 'requirepass', 'data-secret');
    }
    const sentinel = await privateSentinel('mymaster', primary.port);
    stoppers.push(() => sentinel.stop());
    await redisCli(sentinel.port, 'sentinel', 'set', 'mymaster', 'auth-pass', 'data-secret');
    // Sentinel's requirepass, set at run time: the default user's password.
    await redisCli(sentinel.port, 'acl', 'setuser', 'default', 'resetpass', '>sentinel-secret');
    const sentinelAuth = cliAuth('sentinel-secret');
    await eventually(async () => expect(await redisCli(sentinel.port, ...sentinelAuth, 'sentinel', 'replicas', 'mymaster')).to.match(/master-link-status\s+ok/), 20_000, 200);
    const sentinelAt = (userinfo: string): string => `redis://${userinfo}127.0.0.1:${sentinel.port}`;

    expect(await startFailure([sentinelAt('')], 'redis://:data-secret@mymaster')).to.match(/^Redis Sentinel refused the sentinels' credentials .*NOAUTH/);
    expect(await startFailure([sentinelAt(':wrong@')], 'redis://:data-secret@mymaster')).to.match(/^Redis Sentinel refused the sentinels' credentials .*(WRONGPASS|invalid password)/);
    // The sentinels' password is not the primary's.
    expect(await startFailure([sentinelAt(':sentinel-secret@')], 'mymaster')).to.match(/^Redis refused the credentials.*(WRONGPASS|invalid password)/);

    deployment = { urls: [sentinelAt(':sentinel-secret@')], cluster: false, ports: [primary.port] };
    cluster = new InProcessCluster(() => deployment!, { redisSentinel: 'redis://:data-secret@mymaster' });
    const { n1, n2, offline } = await twoUsers(cluster);
    const alice = await n1.ts.login('alice@localhost/a');
    const bob = await n2.ts.login('bob@localhost/b');
    await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'));
    await caughtUp(replica.port, primary.port, primaryAuth);

    await redisCli(sentinel.port, ...sentinelAuth, 'sentinel', 'failover', 'mymaster');
    await eventually(async () => expect(await redisCli(sentinel.port, ...sentinelAuth, 'sentinel', 'get-master-addr-by-name', 'mymaster')).to.include(String(replica.port)), 30_000, 200);
    await eventually(async () => expect(await redisCli(primary.port, ...primaryAuth, 'info', 'replication')).to.match(/master_link_status:up/), 30_000, 200);
    await expectServedAfterFailover(n1, n2, offline, alice, bob);
  });
});
