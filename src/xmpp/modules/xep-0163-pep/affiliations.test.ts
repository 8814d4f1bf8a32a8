import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from './index.js';
import { appCondition, availableWithCaps, condition, event, getItems, publish, startPepEachTest, subscribe } from './test-support.js';

const SHARED = 'urn:example:shared-notes';
const OPEN = 'urn:example:open-status';

const setAffiliations = (node: string, entries: Array<[string, string]>) =>
  `<iq type='set'><pubsub xmlns='${NS_PUBSUB_OWNER}'><affiliations node='${node}'>${entries.map(([jid, a]) => `<affiliation jid='${jid}' affiliation='${a}'/>`).join('')}</affiliations></pubsub></iq>`;
const getAffiliations = (node: string) => `<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><affiliations node='${node}'/></pubsub></iq>`;
const listed = (r: XmlElement, ns: string): string[][] =>
  r.getChild('pubsub', ns)!.getChild('affiliations')!.getChildren('affiliation').map((a) => [a.attrs.jid ?? a.attrs.node ?? '', a.attrs.affiliation ?? '']);

describe('XEP-0163 PEP: affiliations (XEP-0060 §8.9, §5.7)', () => {
  const pep = startPepEachTest();
  beforeEach(async () => {
    await pep.alice.iq(publish(SHARED, `<notes xmlns='${SHARED}'>for chosen people</notes>`, { 'pubsub#access_model': 'whitelist' }, 'n1'));
    await pep.alice.iq(publish(OPEN, `<status xmlns='${OPEN}'>hello</status>`, { 'pubsub#access_model': 'open' }, 's1'));
  });

  it('lets a member read a whitelist node and refuses everyone else', async () => {
    const refused = await pep.bob.iq(getItems('alice@localhost', SHARED));
    expect([condition(refused), appCondition(refused)]).to.deep.equal(['not-allowed', 'closed-node']);
    expect((await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'member']]))).attrs.type).to.equal('result');

    const items = await pep.bob.iq(getItems('alice@localhost', SHARED));
    expect(items.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChild('item')!.attrs.id).to.equal('n1');
    expect(condition(await pep.dave.iq(getItems('alice@localhost', SHARED)))).to.equal('not-allowed');
    // A member may subscribe, and hears of what is published next.
    const sub = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${SHARED}' jid='bob@localhost/pc'/></pubsub></iq>`);
    expect(sub.attrs.type).to.equal('result');
    await pep.alice.iq(publish(SHARED, `<notes xmlns='${SHARED}'>second</notes>`, undefined, 'n2'));
    const heard = await pep.bob.waitFor((m) => event(SHARED)(m) && m.getChild('event')!.getChild('items')!.getChild('item')?.attrs.id === 'n2');
    expect(heard.attrs.from).to.equal('alice@localhost');

    // Back to none: no longer readable, and the subscription no longer delivers.
    await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'none']]));
    expect(condition(await pep.bob.iq(getItems('alice@localhost', SHARED)))).to.equal('not-allowed');
    await pep.alice.iq(publish(SHARED, `<notes xmlns='${SHARED}'>third</notes>`, undefined, 'n3'));
    await pep.alice.iq(getAffiliations(SHARED)); // a round trip after the publish
    expect(pep.bob.all((m) => event(SHARED)(m) && m.getChild('event')!.getChild('items')!.getChild('item')?.attrs.id === 'n3')).to.have.length(0);
  });

  it("keeps an outcast out of an open node, and out of a contact's notifications", async () => {
    await subscribe(pep.bob, pep.alice);
    await availableWithCaps(pep.bob, [`${OPEN}+notify`]);
    await pep.bob.waitFor(event(OPEN)); // the last item, on coming online
    await pep.alice.iq(setAffiliations(OPEN, [['bob@localhost', 'outcast']]));
    const refused = await pep.bob.iq(getItems('alice@localhost', OPEN));
    expect(condition(refused)).to.equal('forbidden');
    const sub = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${OPEN}' jid='bob@localhost/pc'/></pubsub></iq>`);
    expect(condition(sub)).to.equal('forbidden');
    expect((await pep.dave.iq(getItems('alice@localhost', OPEN))).attrs.type).to.equal('result');

    const before = pep.bob.all(event(OPEN)).length;
    await pep.alice.iq(publish(OPEN, `<status xmlns='${OPEN}'>not for bob</status>`, undefined, 's2'));
    await pep.alice.iq(getAffiliations(OPEN));
    expect(pep.bob.all(event(OPEN))).to.have.length(before);
  });

  it("lists a node's affiliations to its owner, and each requester's own", async () => {
    await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'member'], ['dave@localhost/pc', 'outcast']]));
    const all = await pep.alice.iq(getAffiliations(SHARED));
    expect(listed(all, NS_PUBSUB_OWNER)).to.deep.equal([['alice@localhost', 'owner'], ['bob@localhost', 'member'], ['dave@localhost', 'outcast']]);

    const mine = (client: TestClient, node?: string) =>
      client.iq(`<iq type='get' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><affiliations${node === undefined ? '' : ` node='${node}'`}/></pubsub></iq>`);
    expect(listed(await mine(pep.bob), NS_PUBSUB)).to.deep.equal([[SHARED, 'member']]);
    expect(listed(await mine(pep.dave, SHARED), NS_PUBSUB)).to.deep.equal([[SHARED, 'outcast']]);
    expect(listed(await mine(pep.alice), NS_PUBSUB).sort()).to.deep.equal([[OPEN, 'owner'], [SHARED, 'owner']]);

    // Only the owner sees or changes the list.
    expect(condition(await pep.bob.iq(`<iq type='get' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB_OWNER}'><affiliations node='${SHARED}'/></pubsub></iq>`))).to.equal('forbidden');
    expect(condition(await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB_OWNER}'><affiliations node='${SHARED}'><affiliation jid='bob@localhost' affiliation='none'/></affiliations></pubsub></iq>`))).to.equal('forbidden');
  });

  it('refuses what it cannot do, changing nothing', async () => {
    const publisher = await pep.alice.iq(setAffiliations(SHARED, [['dave@localhost', 'member'], ['bob@localhost', 'publisher']]));
    expect([condition(publisher), appCondition(publisher)]).to.deep.equal(['feature-not-implemented', 'unsupported']);
    expect(condition(await pep.alice.iq(setAffiliations(SHARED, [['alice@localhost', 'none']])))).to.equal('not-acceptable');
    expect(condition(await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'owner']])))).to.equal('not-acceptable');
    expect(condition(await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'friend']])))).to.equal('bad-request');
    expect(condition(await pep.alice.iq(setAffiliations(SHARED, [['@bad', 'member']])))).to.equal('jid-malformed');
    expect(condition(await pep.alice.iq(setAffiliations('no-such-node', [['bob@localhost', 'member']])))).to.equal('item-not-found');
    expect(listed(await pep.alice.iq(getAffiliations(SHARED)), NS_PUBSUB_OWNER)).to.deep.equal([['alice@localhost', 'owner']]);
    expect(condition(await pep.dave.iq(getItems('alice@localhost', SHARED)))).to.equal('not-allowed');
  });

  it('keeps affiliations when the owner reconfigures the node', async () => {
    await pep.alice.iq(setAffiliations(SHARED, [['bob@localhost', 'member']]));
    const form = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#max_items'><value>5</value></field></x>`;
    expect((await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='${SHARED}'>${form}</configure></pubsub></iq>`)).attrs.type).to.equal('result');
    expect((await pep.bob.iq(getItems('alice@localhost', SHARED))).attrs.type).to.equal('result');
  });
});
