import { expect } from 'chai';
import { NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { appCondition, condition, get, itemsOf, ok, publishItem, set, start, withOptions, type Users } from './test-support.js';

/** Runs `fn` against a fresh server with these pubsub options. */
async function withServer(options: Record<string, unknown>, fn: (u: Users) => Promise<void>): Promise<void> {
  const u = await start(withOptions(options));
  try {
    await fn(u);
  } finally {
    await u.ts.stop();
  }
}

describe('XEP-0060 pubsub service: limits one user cannot push past', () => {
  it('caps the nodes one account has created (maxNodesPerCreator), leaving the others free to create', () =>
    withServer({ maxNodesPerCreator: 2 }, async (u) => {
      await ok(u.alice, set(`<create node='a1'/>`));
      await ok(u.alice, set(`<create/>`));
      const third = await u.alice.iq(set(`<create node='a3'/>`));
      expect([third.attrs.type, condition(third)]).to.deep.equal(['error', 'policy-violation']);
      // Handing a node to another owner does not make room: alice created it.
      await ok(u.alice, set(`<affiliations node='a1'><affiliation jid='carol@localhost' affiliation='owner'/><affiliation jid='alice@localhost' affiliation='none'/></affiliations>`, NS_PUBSUB_OWNER));
      expect(condition(await u.alice.iq(set(`<create node='a3'/>`)))).to.equal('policy-violation');
      await ok(u.bob, set(`<create node='b1'/>`));
      // Deleting one does.
      await ok(u.carol, set(`<delete node='a1'/>`, NS_PUBSUB_OWNER));
      await ok(u.alice, set(`<create node='a3'/>`));
    }));

  it('refuses node names and item ids too long to store', () =>
    withServer({}, async (u) => {
      expect(condition(await u.alice.iq(set(`<create node='${'n'.repeat(513)}'/>`)))).to.equal('not-acceptable');
      await ok(u.alice, set(`<create node='${'é'.repeat(256)}'/>`));
      await ok(u.alice, set(`<create node='n'/>`));
      expect(condition(await u.alice.iq(publishItem('n', 'x', 'i'.repeat(1025))))).to.equal('not-acceptable');
      await ok(u.alice, publishItem('n', 'x', 'i'.repeat(1024)));
      expect(itemsOf(await ok(u.alice, get(`<items node='n'/>`)))).to.have.length(1);
    }));

  it('caps the subscriptions of a node (maxSubscriptionsPerNode) and of one JID to a node (§6.1.3.9)', () =>
    withServer({ maxSubscriptionsPerNode: 20 }, async (u) => {
      await ok(u.alice, set(`<create node='n'/>`));
      for (let i = 0; i < 16; i++) await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost/r${i}'/>`));
      const more = await u.bob.iq(set(`<subscribe node='n' jid='bob@localhost/r16'/>`));
      expect([more.getChild('error')?.attrs.type, condition(more), appCondition(more)?.name]).to.deep.equal(['wait', 'policy-violation', 'too-many-subscriptions']);
      // Subscribing again with a JID already subscribed is not a new subscription.
      await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost/r0'/>`));
      for (let i = 0; i < 4; i++) await ok(u.carol, set(`<subscribe node='n' jid='carol@localhost/r${i}'/>`));
      expect(condition(await u.alice.iq(set(`<subscribe node='n' jid='alice@localhost'/>`)))).to.equal('policy-violation');
      // Nor can the owner subscribe others past them (§8.8.2), though ending subscriptions in the same change makes room.
      const owners = (subs: string) => set(`<subscriptions node='n'>${subs}</subscriptions>`, NS_PUBSUB_OWNER);
      expect(condition(await u.alice.iq(owners(`<subscription jid='dave@example.org' subscription='subscribed'/>`)))).to.equal('policy-violation');
      await ok(u.alice, owners(`<subscription jid='carol@localhost/r0' subscription='none'/><subscription jid='dave@example.org' subscription='subscribed'/>`));
    }));
});
