import { expect } from 'chai';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { eachTest } from '../../../testing/each-test.js';
import { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { condition, get, isEvent, itemsOf, ok, publishItem, set, start } from './test-support.js';

describe('XEP-0060 pubsub service: what deletions leave behind', () => {
  const u = eachTest(() => start(), ({ ts }) => ts.stop());
  const subscribers = async (node: string) =>
    (await ok(u.bob, get(`<subscriptions node='${node}'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.jid);

  it('a node deleted with items and subscriptions leaves none to a node created again under its name', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.carol, set(`<subscribe node='n' jid='carol@localhost'/>`));
    await ok(u.alice, publishItem('n', 'old', 'old'));
    await ok(u.alice, set(`<delete node='n'/>`, NS_PUBSUB_OWNER));
    await ok(u.bob, set(`<create node='n'/>`));
    expect(itemsOf(await ok(u.bob, get(`<items node='n'/>`)))).to.deep.equal([]);
    expect(await subscribers('n')).to.deep.equal([]);
  });

  it('deleting an account deletes the nodes it alone owned, telling their subscribers, and leaves co-owned nodes to their other owners', async () => {
    await ok(u.alice, set(`<create node='mine'/>`));
    await ok(u.alice, set(`<create node='shared'/>`));
    await ok(u.alice, set(`<affiliations node='shared'><affiliation jid='bob@localhost' affiliation='owner'/></affiliations>`, NS_PUBSUB_OWNER));
    await ok(u.carol, set(`<subscribe node='mine' jid='carol@localhost'/>`));
    await ok(u.alice, publishItem('mine', 'x', 'x'));
    await u.carol.waitFor(isEvent('mine'));
    u.carol.clear();

    await u.ts.server.deleteAccount(parseJid('alice@localhost'));
    const deleted = await u.carol.waitFor((e: XmlElement) => e.getChild('event', NS_PUBSUB_EVENT)?.getChild('delete')?.attrs.node === 'mine');
    expect(deleted.attrs.type).to.equal('headline');
    expect(condition(await u.bob.iq(get(`<items node='mine'/>`)))).to.equal('item-not-found');
    // The name is free again, and the node counts against nobody's share.
    await ok(u.bob, set(`<create node='mine'/>`));
    await ok(u.bob, publishItem('shared', 'still here'));
    const mine = (await ok(u.bob, get(`<affiliations/>`))).getChild('pubsub', NS_PUBSUB)!.getChild('affiliations')!.getChildren('affiliation');
    expect(mine.map((a) => `${a.attrs.node}=${a.attrs.affiliation}`).sort()).to.deep.equal(['mine=owner', 'shared=owner']);
  });
});
