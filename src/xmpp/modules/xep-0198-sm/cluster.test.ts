import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { InProcessCluster } from '../../../testing/in-process-cluster.js';
import { redisTargets, type RedisDeployment } from '../../../testing/redis-cluster-nodes.js';
import { flushRedis } from '../../../testing/services/redis.js';
import type { XmlElement } from '../../../util/xml.js';
import { DIRECTED_PRESENCE } from '../../session.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import sm, { NS_SM } from './index.js';

const isSm = (name: string) => (el: XmlElement) => el.name === name && el.attrs.xmlns === NS_SM;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isPresence = (from: string, type?: string) => (el: XmlElement): boolean => el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

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

  const ROOM = 'tea@conference.localhost';

  /**
   * carol's room runs on node A; alice, on A, joins it and sends directed presence to dave (on A too), then resumes
   * her session on B, everything acknowledged: nothing is left queued to bounce to the room when the session
   * ends, which the room would take for her being gone (status 333) whether or not she said so.
   */
  async function aliceResumedOnB() {
    const modules = [roster, disco, presence, muc, sm];
    const [a, b] = [await cluster.start('a', modules), await cluster.start('b', modules)];
    const carol = await a.ts.login('carol@localhost/c');
    await createRoom(carol, ROOM, 'carol');
    const dave = await a.ts.login('dave@localhost/d');
    const alice = await a.ts.login('alice@localhost/a');
    await alice.send('<presence/>');
    await alice.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await alice.waitFor(isSm('enabled'))).attrs.id!;
    expect((await joinRoom(alice, ROOM, 'alice')).attrs.type).to.equal(undefined);
    await alice.send(`<presence to='${dave.jid}'><show>chat</show></presence>`);
    await dave.waitFor(isPresence('alice@localhost/a'));
    const enabled = alice.received.findIndex(isSm('enabled'));
    const h = alice.received.slice(enabled).filter((e) => ['message', 'presence', 'iq'].includes(e.name)).length;
    await alice.drop();

    const again = await b.ts.authenticated('alice@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(isSm('resumed'));
    expect(again.received.filter((e) => e.name !== 'resumed')).to.deep.equal([]);
    return { a, b, carol, dave, again };
  }

  // RFC 6121 §4.6.3: whoever the session sent directed presence to (a MUC room among them) must hear it go
  // unavailable, however many nodes it went through; the room would otherwise keep a ghost holding the nick.
  it('a session resumed on another node tells its room and a stranger it sent presence to that it is gone', async () => {
    const { a, b, carol, dave, again } = await aliceResumedOnB();
    const directed = [`${ROOM}/alice`, 'dave@localhost/d'];
    expect([...(b.ts.server.sessions.get('alice@localhost/a')?.get(DIRECTED_PRESENCE) ?? [])]).to.deep.equal(directed);
    // Should node B die, the node cleaning up after it reads them from there.
    await eventually(async () => expect((await a.cluster.sessions.get('alice@localhost/a'))?.directed).to.deep.equal(directed));

    again.close();
    await carol.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 5000);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 5000);
    // Gone from the room, not a ghost: her nick is free for someone else.
    const erin = await a.ts.login('erin@localhost/e');
    expect((await joinRoom(erin, ROOM, 'alice')).attrs.type).to.equal(undefined);
  });

  // What the node a session was resumed on knows of its targets is what it says when it comes back after being
  // declared dead (rfc6121-presence/directed.ts, leaveLostRooms): the room, and the last presence dave had.
  it('a session resumed on another node that is then declared dead and comes back is told it left its room, and the stranger sees it again', async () => {
    const { b, dave, again } = await aliceResumedOnB();
    await b.cluster.sessions.liveness.stop(false);
    await dave.waitFor(isPresence('alice@localhost/a', 'unavailable'), 10_000);
    dave.clear();
    b.cluster.sessions.liveness.startTimers();
    const left = await again.waitFor(isPresence(`${ROOM}/alice`, 'unavailable'), 10_000);
    expect(left.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status').map((c) => c.attrs.code)).to.deep.equal(['110', '333']);
    expect((await dave.waitFor(isPresence('alice@localhost/a'), 10_000)).getChildText('show')).to.equal('chat');
  });
});
