import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { InProcessCluster } from '../../../testing/in-process-cluster.js';
import { redisTargets, type RedisDeployment } from '../../../testing/redis-cluster-nodes.js';
import { flushRedis } from '../../../testing/services/redis.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import sm, { NS_SM } from './index.js';

const isSm = (name: string) => (el: XmlElement) => el.name === name && el.attrs.xmlns === NS_SM;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('XEP-0198 resumption in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  let deployment: RedisDeployment | undefined;
  const cluster = new InProcessCluster(() => deployment!);
  before(async () => {
    deployment = await redisTargets[0]!.start();
  });
  beforeEach(() => cluster.reset());
  afterEach(() => cluster.stopAll());

  it('the node that handed a session over does not write its entry back when Redis comes back empty', async () => {
    const a = await cluster.start('a', [roster, presence, sm]);
    const b = await cluster.start('b', [roster, presence, sm]);
    const bob = await a.ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    await bob.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await bob.waitFor(isSm('enabled'))).attrs.id!;
    await bob.drop();
    const again = await b.ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isSm('resumed'));
    await eventually(() => expect(a.cluster.sessions.ownedEntries()).to.deep.equal([]));

    // Redis comes back empty, and node A notices first: it writes back what it still holds.
    await b.cluster.sessions.liveness.stop(false);
    await flushRedis(deployment!.ports);
    await sleep(600);
    b.cluster.sessions.liveness.startTimers();
    await eventually(async () => expect((await a.cluster.sessions.get('bob@localhost/b'))?.node).to.equal('b'));
    await sleep(300);
    expect(again.closedWith).to.equal(undefined);
    expect(b.ts.server.sessions.get('bob@localhost/b')?.open).to.equal(true);
  });
});
