import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import { inProcessClusterSuite, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import pubsub from './index.js';

const SERVICE = 'pubsub.localhost';
const MODULES = [roster, presence, disco, pubsub];
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const set = (body: string) => `<iq type='set' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'>${body}</pubsub></iq>`;
const isEvent = (node: string) => (e: XmlElement) => e.name === 'message' && e.attrs.from === SERVICE && e.getChild('event', NS_PUBSUB_EVENT)?.getChild('items')?.attrs.node === node;

describe('XEP-0060 pubsub service in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();
  const startNode = (id: string): Promise<ClusterTestNode> => cluster.start(id, MODULES);

  async function online(node: ClusterTestNode, full: string): Promise<TestClient> {
    const c = await node.ts.login(full);
    await c.send('<presence/>');
    return c;
  }

  it('runs changes on one node: of two creates of one name on two nodes at once, exactly one succeeds', async () => {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await online(a, 'alice@localhost/a');
    const bob = await online(b, 'bob@localhost/b');
    for (let round = 0; round < 5; round++) {
      const replies = await Promise.all([alice.iq(set(`<create node='race${round}'/>`)), bob.iq(set(`<create node='race${round}'/>`))]);
      expect(replies.map((r) => (r.attrs.type === 'result' ? 'result' : condition(r))).sort(), `round ${round}`).to.deep.equal(['conflict', 'result']);
    }
    expect(await b.cluster.sessions.holder(`pubsub:${SERVICE}`)).to.be.oneOf(['a', 'b']);
  });

  it('notifies a subscriber on another node once, and any node reads what was published', async () => {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await online(a, 'alice@localhost/a');
    const bob = await online(b, 'bob@localhost/b');
    expect((await alice.iq(set(`<create node='feed'/>`))).attrs.type).to.equal('result');
    expect((await bob.iq(set(`<subscribe node='feed' jid='bob@localhost'/>`))).attrs.type).to.equal('result');
    const published = await alice.iq(set(`<publish node='feed'><item id='1'><entry xmlns='urn:test'>hello</entry></item></publish>`));
    expect(published.attrs.type, published.toString()).to.equal('result');
    const ev = await bob.waitFor(isEvent('feed'));
    expect(ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!.getChildText('entry')).to.equal('hello');
    const items = await bob.iq(`<iq type='get' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><items node='feed'/></pubsub></iq>`);
    expect(items.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['1']);
    expect(bob.all(isEvent('feed'))).to.have.length(1);
  });

  it('cleans up after an account deleted on a node that does not run the service, on the node that does', async () => {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await online(a, 'alice@localhost/a');
    const bob = await online(b, 'bob@localhost/b');
    expect((await alice.iq(set(`<create node='feed'/>`))).attrs.type).to.equal('result');
    expect((await bob.iq(set(`<create node='bobs'/>`))).attrs.type).to.equal('result');
    expect((await bob.iq(set(`<subscribe node='feed' jid='bob@localhost/b'/>`))).attrs.type).to.equal('result');
    expect(await a.cluster.sessions.holder(`pubsub:${SERVICE}`)).to.equal('a');
    await b.ts.server.deleteAccount(parseJid('bob@localhost'));
    const subs = await alice.iq(`<iq type='get' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB_OWNER}'><subscriptions node='feed'/></pubsub></iq>`);
    expect(subs.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription')).to.have.length(0);
    const again = await alice.iq(set(`<create node='bobs'/>`));
    expect(again.attrs.type, again.toString()).to.equal('result');
  });
});
