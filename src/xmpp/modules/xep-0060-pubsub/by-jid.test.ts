import { expect } from 'chai';
import { MemoryStore } from '../../../storage/memory/index.js';
import type { TestClient } from '../../../testing/harness.js';
import { RowCountingStore } from '../../../testing/row-counting-store.js';
import { parseJid } from '../../../util/jid.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { serviceDefaults } from './node.js';
import { condition, get, ok, set, start, withOptions, type Users } from './test-support.js';

const mySubscriptions = async (c: TestClient): Promise<string[]> =>
  (await ok(c, get(`<subscriptions/>`))).getChild('pubsub', NS_PUBSUB)!.getChild('subscriptions')!.getChildren('subscription').map((s) => `${s.attrs.node}:${s.attrs.jid}`).sort();
const myAffiliations = async (c: TestClient): Promise<string[]> =>
  (await ok(c, get(`<affiliations/>`))).getChild('pubsub', NS_PUBSUB)!.getChild('affiliations')!.getChildren('affiliation').map((a) => `${a.attrs.node}=${a.attrs.affiliation}`).sort();
const owner = (body: string): string => set(body, NS_PUBSUB_OWNER);

describe('XEP-0060 pubsub service: a user’s own subscriptions and affiliations (§5.6, §5.7) without reading the whole service', () => {
  let u: Users & { store: RowCountingStore };
  beforeEach(async () => {
    // Rows of pubsub tables read by whole-partition range reads (no bounds, no limit): the scans the indexes by JID
    // replace. (Counting a service's nodes against maxNodes reads with a limit.)
    const store = new RowCountingStore((table, o) => table.startsWith('pubsub_') && o.start === undefined && o.end === undefined && o.limit === undefined);
    const users = await start({}, store);
    u = { ...users, store };
    // Many nodes and subscriptions of others, which a scan would read.
    for (let i = 0; i < 20; i++) {
      await ok(u.alice, set(`<create node='other${i}'/>`));
      await ok(u.carol, set(`<subscribe node='other${i}' jid='carol@localhost'/>`));
    }
  });
  afterEach(() => u.ts.stop());

  it('lists them right through subscribe, unsubscribe, an owner’s changes, outcast, node deletion and creation, reading no other rows', async () => {
    for (const n of ['n1', 'n2', 'n3', 'n4']) await ok(u.alice, set(`<create node='${n}'/>`));
    u.store.rows = 0;
    await ok(u.bob, set(`<subscribe node='n1' jid='bob@localhost'/>`));
    await ok(u.bob, set(`<subscribe node='n2' jid='bob@localhost/b'/>`));
    await ok(u.alice, owner(`<subscriptions node='n3'><subscription jid='bob@localhost/x' subscription='subscribed'/></subscriptions>`));
    await ok(u.alice, owner(`<affiliations node='n4'><affiliation jid='bob@localhost' affiliation='publisher'/></affiliations>`));
    await ok(u.alice, owner(`<affiliations node='n1'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>`));
    expect(await mySubscriptions(u.bob)).to.deep.equal(['n1:bob@localhost', 'n2:bob@localhost/b', 'n3:bob@localhost/x']);
    expect(await myAffiliations(u.bob)).to.deep.equal(['n1=member', 'n4=publisher']);

    await ok(u.bob, set(`<unsubscribe node='n1' jid='bob@localhost'/>`));
    await ok(u.alice, owner(`<affiliations node='n2'><affiliation jid='bob@localhost' affiliation='outcast'/></affiliations>`));
    expect(await mySubscriptions(u.bob)).to.deep.equal(['n3:bob@localhost/x']);
    expect(await myAffiliations(u.bob)).to.deep.equal(['n1=member', 'n2=outcast', 'n4=publisher']);

    await ok(u.alice, owner(`<subscriptions node='n3'><subscription jid='bob@localhost/x' subscription='none'/></subscriptions>`));
    await ok(u.bob, set(`<subscribe node='n4' jid='bob@localhost'/>`));
    await ok(u.alice, owner(`<affiliations node='n1'><affiliation jid='bob@localhost' affiliation='none'/></affiliations>`));
    await ok(u.alice, owner(`<delete node='n4'/>`));
    await ok(u.bob, set(`<create node='b1'/>`));
    expect(await mySubscriptions(u.bob)).to.deep.equal([]);
    expect(await myAffiliations(u.bob)).to.deep.equal(['b1=owner', 'n2=outcast']);
    expect(u.store.rows, 'rows read by whole-partition scans').to.equal(0);
  });

  it('ends a deleted account’s subscriptions and its nodes without reading the others’', async () => {
    await ok(u.bob, set(`<create node='bobs'/>`));
    await ok(u.bob, set(`<subscribe node='other3' jid='bob@localhost/b'/>`));
    await ok(u.bob, set(`<subscribe node='bobs' jid='bob@localhost'/>`));
    u.store.rows = 0;
    await u.ts.server.deleteAccount(parseJid('bob@localhost'));
    expect(u.store.rows, 'rows read by whole-partition scans').to.equal(0);
    const subscribers = (await ok(u.alice, get(`<subscriptions node='other3'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription');
    expect(subscribers.map((s) => s.attrs.jid)).to.deep.equal(['carol@localhost']);
    // A later account of that name starts with nothing at the service.
    const again = await u.ts.login('bob@localhost/new');
    expect(await mySubscriptions(again)).to.deep.equal([]);
    expect(await myAffiliations(again)).to.deep.equal([]);
    await ok(again, set(`<create node='bobs'/>`));
  });
});

describe('XEP-0060 pubsub service: a store written before the indexes by JID', () => {
  let u: Users | undefined;
  afterEach(() => u?.ts.stop());

  it('indexes it at start, so lists and account deletion find what it holds', async () => {
    const store = new MemoryStore();
    await store.ensureTables([{ name: 'pubsub_nodes' }, { name: 'pubsub_subscriptions' }]);
    const service = 'pubsub.localhost';
    // old1 is from before nodes kept their creator: its first owner counts as such.
    await store.put('pubsub_nodes', service, 'old1', JSON.stringify({ config: serviceDefaults(10), affiliations: { 'alice@localhost': 'owner', 'bob@localhost': 'publisher' } }));
    await store.put('pubsub_nodes', service, 'old2', JSON.stringify({ config: serviceDefaults(10), affiliations: { 'alice@localhost': 'owner', 'bob@localhost': 'publisher' }, creator: 'alice@localhost' }));
    await store.put('pubsub_subscriptions', service, 'old1\u0000bob@localhost/b', JSON.stringify({ node: 'old1', jid: 'bob@localhost/b', subid: 's1' }));
    await store.put('pubsub_subscriptions', service, 'old2\u0000carol@localhost', JSON.stringify({ node: 'old2', jid: 'carol@localhost', subid: 's2' }));

    u = await start(withOptions({ maxNodesPerCreator: 2 }), store);
    expect(await mySubscriptions(u.bob)).to.deep.equal(['old1:bob@localhost/b']);
    expect(await myAffiliations(u.bob)).to.deep.equal(['old1=publisher', 'old2=publisher']);
    expect(await myAffiliations(u.alice)).to.deep.equal(['old1=owner', 'old2=owner']);
    expect(condition(await u.alice.iq(set(`<create node='third'/>`))), 'alice has created her 2').to.equal('policy-violation');
    await ok(u.bob, set(`<create node='bobs'/>`));

    await u.ts.server.deleteAccount(parseJid('carol@localhost'));
    await u.ts.server.deleteAccount(parseJid('alice@localhost'));
    // alice's nodes went with her (she owned them alone), and carol's subscription with her.
    expect(await myAffiliations(u.bob)).to.deep.equal(['bobs=owner']);
    expect(await mySubscriptions(u.bob)).to.deep.equal([]);
    const carol = await u.ts.login('carol@localhost/again');
    expect(await mySubscriptions(carol)).to.deep.equal([]);
  });
});
