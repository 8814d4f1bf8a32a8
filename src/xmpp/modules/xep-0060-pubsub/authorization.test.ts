import { expect } from 'chai';
import { eachTest } from '../../../testing/each-test.js';
import { NS_PUBSUB_OWNER } from '../xep-0163-pep/protocol.js';
import { condition, get, itemsOf, ok, publishItem, set, start } from './test-support.js';

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
