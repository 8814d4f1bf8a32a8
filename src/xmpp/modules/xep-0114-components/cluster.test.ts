import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { InProcessCluster, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import { RawComponent, SECRET } from '../../../testing/raw-component.js';
import { redisTargets, type RedisDeployment } from '../../../testing/redis-cluster-nodes.js';
import { freePort } from '../../../testing/services/child-process.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import components from './index.js';

const DOMAIN = 'bridge.localhost';
const errorCondition = (el: { getChild(name: string): { elements(): Array<{ name: string }> } | undefined }): string | undefined => el.getChild('error')?.elements()[0]?.name;

describe('XEP-0114 components in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  let deployment: RedisDeployment | undefined;
  const cluster = new InProcessCluster(() => deployment!);
  const open: RawComponent[] = [];
  const ports = new Map<ClusterTestNode, number>();

  async function startNode(id: string): Promise<ClusterTestNode> {
    const port = await freePort();
    const node = await cluster.start(id, [roster, presence, disco, components], { components: { port, secrets: { [DOMAIN]: SECRET } } });
    ports.set(node, port);
    return node;
  }

  async function connectTo(node: ClusterTestNode): Promise<RawComponent> {
    const c = await RawComponent.open(ports.get(node)!, DOMAIN);
    open.push(c);
    await c.authenticate();
    return c;
  }

  before(async function () {
    deployment = await redisTargets[0]!.start();
  });
  beforeEach(() => cluster.reset());
  afterEach(async () => {
    for (const c of open.splice(0)) c.end();
    await cluster.stopAll();
  });

  it('carries stanzas between a component on one node and users on another, and refuses a second connection on any node', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await b.ts.login('alice@localhost/phone');
    const bridge = await connectTo(a);
    await bridge.waitFor(/<handshake\/>/);

    for (let i = 0; i < 10; i++) await alice.send(`<message to='room-1@${DOMAIN}' type='chat'><body>m${i}</body></message>`);
    await bridge.waitFor(/m9/);
    expect([...bridge.received.matchAll(/<body>(m\d)<\/body>/g)].map((m) => m[1]), 'in the order sent').to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${i}`));
    bridge.send(`<message from='room-1@${DOMAIN}' to='alice@localhost/phone' type='chat'><body>back</body></message>`);
    await alice.waitFor((el) => el.getChildText('body') === 'back');

    const second = await connectTo(b);
    await second.waitFor(/<conflict /);
    await second.closed;
    const again = await connectTo(a);
    await again.waitFor(/<conflict /);
  });

  it('closes a component connection when its node leaves the cluster, so that it can move to a node that stays at once', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await b.ts.login('alice@localhost/phone');
    const bridge = await connectTo(a);
    await bridge.waitFor(/<handshake\/>/);
    // SIGTERM on a: its sessions close and it leaves the cluster (its bus stops next, before its modules).
    await a.locator.closeSessions('node stopping');
    const moved = await connectTo(b);
    await moved.waitFor(/<handshake\/>|<conflict /);
    expect(moved.received, 'the domain is free for b').to.include('<handshake/>');
    await bridge.waitFor(/<system-shutdown /);
    await bridge.closed;
    await alice.send(`<message to='room-1@${DOMAIN}' type='chat'><body>to the moved bridge</body></message>`);
    await moved.waitFor(/to the moved bridge/);
  });

  it('bounces requests while no node has the component, and finds it on the node it reconnects to', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    const first = await connectTo(a);
    await first.waitFor(/<handshake\/>/);
    first.end();
    await first.closed;
    await eventually(async () => expect(await a.cluster.sessions.holder(`xep-0114:${DOMAIN}`)).to.equal(undefined));
    const refused = await alice.iq(`<iq type='get' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(errorCondition(refused)).to.equal('service-unavailable');

    const moved = await connectTo(b);
    await moved.waitFor(/<handshake\/>/);
    await alice.send(`<iq type='get' id='q1' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    await moved.waitFor(/<iq[^>]*id='q1'/);
    moved.send(`<iq type='result' id='q1' from='${DOMAIN}' to='alice@localhost/phone'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='gateway' type='telegram'/></query></iq>`);
    const answer = await alice.waitFor((el) => el.attrs.id === 'q1' && el.attrs.type === 'result');
    expect(answer.getChild('query')?.getChild('identity')?.attrs.type).to.equal('telegram');
  });
});
