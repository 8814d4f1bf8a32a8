import { expect } from 'chai';
import { MemoryStore } from '../../../storage/memory/index.js';
import { parseJid } from '../../../util/jid.js';
import { NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { serviceDefaults } from './node.js';
import { condition, ok, SERVICE, set, start, withOptions, type Users } from './test-support.js';
import { RowCountingStore } from '../../../testing/row-counting-store.js';

const create = (node: string): string => set(`<create node='${node}'/>`);
const remove = (node: string): string => set(`<delete node='${node}'/>`, NS_PUBSUB_OWNER);

describe('XEP-0060 pubsub service: maxNodes counted without reading the service’s nodes', () => {
  let u: Users | undefined;
  afterEach(async () => {
    await u?.ts.stop();
    u = undefined;
  });

  it('creates a node without reading the others', async () => {
    const store = new RowCountingStore((table) => table === 'pubsub_nodes');
    u = await start({}, store);
    for (let i = 0; i < 30; i++) await ok(u.alice, create(`n${i}`));
    store.rows = 0;
    await ok(u.bob, create('one-more'));
    expect(store.rows, 'node rows read by ranges').to.equal(0);
  });

  it('keeps the count through creates, refused creates, deletes, an account’s deletion and a restart', async () => {
    const store = new MemoryStore();
    const options = withOptions({ maxNodes: 3, maxNodesPerCreator: 2 });
    u = await start(options, store);
    await ok(u.alice, create('a1'));
    await ok(u.alice, create('a2'));
    // Refused by the per-creator cap, or for a name taken: neither takes a place.
    expect(condition(await u.alice.iq(create('a3')))).to.equal('policy-violation');
    expect(condition(await u.bob.iq(create('a1')))).to.equal('conflict');
    await ok(u.bob, create('b1'));
    expect(condition(await u.carol.iq(create('c1')))).to.equal('resource-constraint');
    await ok(u.alice, remove('a1'));
    await ok(u.carol, create('c1'));
    expect(condition(await u.carol.iq(create('c2')))).to.equal('resource-constraint');

    await u.ts.stop();
    u = await start(options, store);
    expect(condition(await u.carol.iq(create('c2'))), 'still full after a restart').to.equal('resource-constraint');
    // bob's node goes with his account.
    await u.ts.server.deleteAccount(parseJid('bob@localhost'));
    await ok(u.carol, create('c2'));
    expect(condition(await u.alice.iq(create('a3')))).to.equal('resource-constraint');
  });

  it('counts the nodes of a store written before the count, once at start', async () => {
    const store = new MemoryStore();
    await store.ensureTables([{ name: 'pubsub_nodes' }]);
    for (const node of ['old1', 'old2']) {
      await store.put('pubsub_nodes', SERVICE, node, JSON.stringify({ config: serviceDefaults(10), affiliations: { 'alice@localhost': 'owner' }, creator: 'alice@localhost' }));
    }
    u = await start(withOptions({ maxNodes: 3 }), store);
    await ok(u.bob, create('b1'));
    expect(condition(await u.bob.iq(create('b2')))).to.equal('resource-constraint');
    await ok(u.alice, remove('old1'));
    await ok(u.bob, create('b2'));
  });
});
