import { expect } from 'chai';
import { eventually } from '../testing/eventually.js';
import { InProcessCluster } from '../testing/in-process-cluster.js';
import type { RedisDeployment } from '../testing/redis-cluster-nodes.js';
import { privateRedis, type PrivateRedis } from '../testing/services/redis.js';
import type { XmlElement } from '../util/xml.js';
import { offlineRecorder } from '../testing/offline-recorder.js';
import presence from '../xmpp/modules/rfc6121-presence/index.js';
import roster from '../xmpp/modules/rfc6121-roster/index.js';
import ping from '../xmpp/modules/xep-0199-ping/index.js';

const bodies = (stanzas: readonly XmlElement[]): Array<string | undefined> => stanzas.map((m) => m.getChildText('body') ?? undefined);

describe('a cluster while its Redis does not answer', function () {
  this.timeout(60_000);
  let redis: PrivateRedis | undefined;
  let deployment: RedisDeployment | undefined;
  // Nodes outlive the outage (no node is declared dead and cleaned up after), so what each keeps right is its own doing.
  const cluster = new InProcessCluster(() => deployment!, { redisWaitSeconds: 0.3, livenessSeconds: 4 });

  beforeEach(async function () {
    redis = await privateRedis();
    deployment = { urls: [redis.url], cluster: false, ports: [redis.port] };
    await cluster.reset();
  });
  afterEach(async function () {
    redis?.resume();
    await cluster.stopAll();
    await redis?.stop();
  });

  it('routes with what each node knows, stores what it cannot deliver, and delivers again once Redis is back', async function () {
    const offline1: XmlElement[] = [];
    const n1 = await cluster.start('n1', [roster, presence, ping, offlineRecorder(offline1)]);
    const n2 = await cluster.start('n2', [roster, presence, ping, offlineRecorder([])]);
    const alice = await n1.ts.login('alice@localhost/a');
    const carol = await n1.ts.login('carol@localhost/c');
    const bob = await n2.ts.login('bob@localhost/b');
    for (const c of [alice, carol, bob]) await c.send('<presence/>');
    await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'));

    redis!.pause();
    // Each send returns (before, the stream waited for Redis as long as it was away), and what cannot reach
    // bob on the other node goes to offline storage: nothing the server accepted is lost.
    await alice.send('<message to="bob@localhost/b" type="chat" id="m1"><body>to the full JID</body></message>');
    await alice.send('<message to="bob@localhost" type="chat" id="m2"><body>to the bare JID</body></message>');
    expect(bodies(offline1)).to.deep.equal(['to the full JID', 'to the bare JID']);
    // Sessions on the same node still reach each other, and the server still answers.
    await alice.send('<message to="carol@localhost" type="chat" id="m3"><body>next door</body></message>');
    await carol.waitFor((el) => el.getChildText('body') === 'next door');
    const pong = await alice.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(pong.attrs.type).to.equal('result');
    // Logins go on: the session is bound here, and its entry written once Redis is back.
    const dave = await n1.ts.login('dave@localhost/d');
    expect(dave.session.open).to.equal(true);
    // Carol leaves while Redis cannot be told.
    carol.close();
    await eventually(() => expect(n1.ts.server.sessions.get('carol@localhost/c')).to.equal(undefined));

    redis!.resume();
    await eventually(async () => expect((await n1.locator.resource('bob@localhost/b'))?.node).to.equal('n2'), 20_000, 100);
    await eventually(async () => expect((await n2.locator.resource('dave@localhost/d'))?.node).to.equal('n1'), 20_000, 100);
    // Her entry goes: the cluster does not keep showing her online.
    await eventually(async () => expect(await n2.locator.resource('carol@localhost/c')).to.equal(null), 20_000, 100);
    await alice.send('<message to="bob@localhost/b" type="chat" id="m4"><body>after</body></message>');
    await bob.waitFor((el) => el.getChildText('body') === 'after', 10_000);
    // What was stored offline during the outage does not also arrive live once Redis answers.
    const chats = bob.received.filter((el) => el.name === 'message');
    expect(bodies(chats)).to.deep.equal(['after']);
  });
});
