import { expect } from 'chai';
import { eachTest } from '../../../testing/each-test.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { condition, get, itemsOf, nodeConfig, ok, publishItem, set, start } from './test-support.js';

const affiliate = (node: string, jid: string, affiliation: string) => set(`<affiliations node='${node}'><affiliation jid='${jid}' affiliation='${affiliation}'/></affiliations>`, NS_PUBSUB_OWNER);

describe('XEP-0060 pubsub service: who may do what', () => {
  const u = eachTest(() => start(), ({ ts }) => ts.stop());

  it("lets a publisher retract or overwrite only its own items, and an owner anyone's (§4.1)", async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.alice, affiliate('n', 'bob@localhost', 'publisher'));
    await ok(u.alice, affiliate('n', 'carol@localhost', 'publisher'));
    await ok(u.bob, publishItem('n', 'by bob', 'b'));
    await ok(u.carol, publishItem('n', 'by carol', 'c'));

    expect(condition(await u.carol.iq(set(`<retract node='n'><item id='b'/></retract>`)))).to.equal('forbidden');
    // All named or none (§7.2): carol's own item stays too.
    expect(condition(await u.carol.iq(set(`<retract node='n'><item id='c'/><item id='b'/></retract>`)))).to.equal('forbidden');
    expect(condition(await u.carol.iq(publishItem('n', 'overwritten', 'b')))).to.equal('forbidden');
    expect(itemsOf(await ok(u.alice, get(`<items node='n'/>`)))).to.deep.equal([['b', 'by bob'], ['c', 'by carol']]);

    await ok(u.carol, publishItem('n', 'carol again', 'c'));
    await ok(u.carol, set(`<retract node='n'><item id='c'/></retract>`));
    await ok(u.alice, set(`<retract node='n'><item id='b'/></retract>`));
    expect(itemsOf(await ok(u.alice, get(`<items node='n'/>`)))).to.deep.equal([]);
  });
});

describe('XEP-0060 pubsub service: subscriptions of those a node no longer admits', () => {
  const u = eachTest(() => start(), ({ ts }) => ts.stop());
  const subscribers = async (node: string) =>
    (await ok(u.alice, get(`<subscriptions node='${node}'/>`, NS_PUBSUB_OWNER))).getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.jid);
  const ended = (node: string) => (e: XmlElement) => e.getChild('event', NS_PUBSUB_EVENT)?.getChild('subscription')?.attrs.node === node;

  it('end when the owner makes a subscriber an outcast or takes a member off a whitelist, and the subscriber is told', async () => {
    await ok(u.alice, set(`<create node='o'/>`));
    await ok(u.bob, set(`<subscribe node='o' jid='bob@localhost/b'/>`));
    await ok(u.alice, affiliate('o', 'bob@localhost', 'outcast'));
    expect(await subscribers('o')).to.deep.equal([]);
    const told = await u.bob.waitFor(ended('o'));
    expect(told.getChild('event', NS_PUBSUB_EVENT)!.getChild('subscription')!.attrs).to.include({ jid: 'bob@localhost/b', subscription: 'none' });
    // Unbanned, bob is not silently subscribed again.
    await ok(u.alice, affiliate('o', 'bob@localhost', 'none'));
    expect(await subscribers('o')).to.deep.equal([]);

    await ok(u.alice, set(`<create node='w'/><configure>${nodeConfig({ 'pubsub#access_model': 'whitelist' })}</configure>`));
    await ok(u.alice, affiliate('w', 'carol@localhost', 'member'));
    await ok(u.carol, set(`<subscribe node='w' jid='carol@localhost'/>`));
    await ok(u.alice, affiliate('w', 'carol@localhost', 'none'));
    expect(await subscribers('w')).to.deep.equal([]);
    await u.carol.waitFor(ended('w'));
  });

  it('end for non-members when the owner makes an open node a whitelist one', async () => {
    await ok(u.alice, set(`<create node='n'/>`));
    await ok(u.alice, affiliate('n', 'carol@localhost', 'member'));
    await ok(u.bob, set(`<subscribe node='n' jid='bob@localhost'/>`));
    await ok(u.carol, set(`<subscribe node='n' jid='carol@localhost'/>`));
    await ok(u.alice, set(`<configure node='n'>${nodeConfig({ 'pubsub#access_model': 'whitelist' })}</configure>`, NS_PUBSUB_OWNER));
    expect(await subscribers('n')).to.deep.equal(['carol@localhost']);
    await u.bob.waitFor(ended('n'));
  });
});
