import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from './index.js';
import { startPepEachTest, appCondition, availableWithCaps, condition, event, getItems, MOOD, publish, subscribe } from './test-support.js';

const BLOG = 'urn:xmpp:microblog:0';
const entry = (text: string) => `<entry xmlns='http://www.w3.org/2005/Atom'><title>${text}</title></entry>`;

const subscribeTo = (owner: string, node: string, jid: string) => `<iq type='set' to='${owner}'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${node}' jid='${jid}'/></pubsub></iq>`;
const unsubscribeFrom = (owner: string, node: string, jid: string) => `<iq type='set' to='${owner}'><pubsub xmlns='${NS_PUBSUB}'><unsubscribe node='${node}' jid='${jid}'/></pubsub></iq>`;
const ownSubscriptions = (owner: string) => `<iq type='get' to='${owner}'><pubsub xmlns='${NS_PUBSUB}'><subscriptions/></pubsub></iq>`;
const titles = (m: XmlElement) =>
  m
    .getChild('event', NS_PUBSUB_EVENT)!
    .getChild('items')!
    .getChildren('item')
    .map((i) => i.elements()[0]!.getChildText('title'));

/** Messages `client` received that carry an event for `node`. */
async function eventsFor(client: TestClient, node: string): Promise<XmlElement[]> {
  await client.iq(`<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`).catch(() => undefined);
  return client.received.filter(event(node));
}

describe('XEP-0163 PEP: explicit subscriptions (XEP-0060 §6.1, §6.2, §5.6, §8.8) and roster access', () => {
  const pep = startPepEachTest();
  beforeEach(async () => {
    // Available, so that notifications to their bare JIDs reach them (RFC 6121 §8.5.2.1.1).
    for (const c of [pep.bob, pep.dave]) await c.send('<presence/>');
  });

  it('lets a stranger follow an open node: last item at once, then every publish, until it unsubscribes', async () => {
    await pep.alice.iq(publish(BLOG, entry('first'), { 'pubsub#access_model': 'open', 'pubsub#max_items': '10' }, 'p1'));
    const r = await pep.dave.iq(subscribeTo('alice@localhost', BLOG, 'dave@localhost'));
    expect(r.attrs.type).to.equal('result');
    const sub = r.getChild('pubsub', NS_PUBSUB)!.getChild('subscription')!;
    expect([sub.attrs.node, sub.attrs.jid, sub.attrs.subscription]).to.deep.equal([BLOG, 'dave@localhost', 'subscribed']);
    expect(titles(await pep.dave.waitFor(event(BLOG)))).to.deep.equal(['first']);

    await pep.alice.iq(publish(BLOG, entry('second'), undefined, 'p2'));
    await pep.dave.waitFor((m) => event(BLOG)(m) && titles(m)[0] === 'second');

    const mine = (await pep.dave.iq(ownSubscriptions('alice@localhost'))).getChild('pubsub', NS_PUBSUB)!.getChild('subscriptions')!.getChildren('subscription');
    expect(mine.map((s) => [s.attrs.node, s.attrs.jid, s.attrs.subid])).to.deep.equal([[BLOG, 'dave@localhost', sub.attrs.subid]]);
    // Another entity does not see dave's subscription among its own.
    expect((await pep.bob.iq(ownSubscriptions('alice@localhost'))).getChild('pubsub', NS_PUBSUB)!.getChild('subscriptions')!.getChildren('subscription')).to.have.length(0);

    expect((await pep.dave.iq(unsubscribeFrom('alice@localhost', BLOG, 'dave@localhost'))).attrs.type).to.equal('result');
    const again = await pep.dave.iq(unsubscribeFrom('alice@localhost', BLOG, 'dave@localhost'));
    expect([condition(again), appCondition(again)]).to.deep.equal(['unexpected-request', 'not-subscribed']);
    const before = (await eventsFor(pep.dave, BLOG)).length;
    await pep.alice.iq(publish(BLOG, entry('third'), undefined, 'p3'));
    expect((await eventsFor(pep.dave, BLOG)).length).to.equal(before);
  });

  it('refuses a subscription for another JID, to a missing node, and to nodes the requester may not read', async () => {
    await pep.alice.iq(publish(BLOG, entry('x'), { 'pubsub#access_model': 'open' }));
    await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
    await pep.alice.iq(publish('secret', `<s xmlns='urn:example:s'/>`, { 'pubsub#access_model': 'whitelist' }));

    const forOther = await pep.dave.iq(subscribeTo('alice@localhost', BLOG, 'bob@localhost'));
    expect([condition(forOther), appCondition(forOther)]).to.deep.equal(['bad-request', 'invalid-jid']);
    expect(condition(await pep.dave.iq(subscribeTo('alice@localhost', 'nothing', 'dave@localhost')))).to.equal('item-not-found');
    const presenceNode = await pep.dave.iq(subscribeTo('alice@localhost', MOOD, 'dave@localhost'));
    expect([condition(presenceNode), appCondition(presenceNode)]).to.deep.equal(['not-authorized', 'presence-subscription-required']);
    const closed = await pep.dave.iq(subscribeTo('alice@localhost', 'secret', 'dave@localhost'));
    expect([condition(closed), appCondition(closed)]).to.deep.equal(['not-allowed', 'closed-node']);
    // Nor can dave end bob's subscription.
    await pep.bob.iq(subscribeTo('alice@localhost', BLOG, 'bob@localhost'));
    expect(condition(await pep.dave.iq(unsubscribeFrom('alice@localhost', BLOG, 'bob@localhost')))).to.equal('forbidden');
  });

  it('notifies a contact that both wants +notify and subscribed its bare JID once per publish', async () => {
    await subscribe(pep.bob, pep.alice);
    await availableWithCaps(pep.bob, [`${MOOD}+notify`]);
    await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
    await pep.bob.waitFor(event(MOOD));
    await pep.bob.iq(subscribeTo('alice@localhost', MOOD, 'bob@localhost'));
    const before = (await eventsFor(pep.bob, MOOD)).length;
    await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><sad/></mood>`));
    await pep.bob.waitFor((m) => event(MOOD)(m) && m.toString().includes('<sad'));
    expect((await eventsFor(pep.bob, MOOD)).length).to.equal(before + 1);
  });

  it("'roster' access: contacts in an allowed group read and subscribe; moved out of it, they hear nothing more", async () => {
    const setGroup = (jid: string, group: string) => pep.alice.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}'><group>${group}</group></item></query></iq>`);
    // Contacts with a presence subscription: without one, dave would be answered as if alice had no account (account-privacy.ts).
    await subscribe(pep.bob, pep.alice);
    await subscribe(pep.dave, pep.alice);
    await setGroup('bob@localhost', 'Friends');
    await setGroup('dave@localhost', 'Work');
    await pep.alice.iq(publish(BLOG, entry('for friends'), { 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': 'Friends', 'pubsub#max_items': '10' }));
    expect((await pep.bob.iq(getItems('alice@localhost', BLOG))).attrs.type).to.equal('result');
    const denied = await pep.dave.iq(getItems('alice@localhost', BLOG));
    expect([condition(denied), appCondition(denied)]).to.deep.equal(['not-authorized', 'not-in-roster-group']);
    expect(appCondition(await pep.dave.iq(subscribeTo('alice@localhost', BLOG, 'dave@localhost')))).to.equal('not-in-roster-group');

    expect((await pep.bob.iq(subscribeTo('alice@localhost', BLOG, 'bob@localhost/pc'))).attrs.type).to.equal('result');
    await pep.alice.iq(publish(BLOG, entry('second'), undefined, 'b2'));
    await pep.bob.waitFor((m) => event(BLOG)(m) && titles(m)[0] === 'second');

    await setGroup('bob@localhost', 'Work');
    const before = (await eventsFor(pep.bob, BLOG)).length;
    await pep.alice.iq(publish(BLOG, entry('third'), undefined, 'b3'));
    expect((await eventsFor(pep.bob, BLOG)).length).to.equal(before);
    expect(appCondition(await pep.bob.iq(getItems('alice@localhost', BLOG)))).to.equal('not-in-roster-group');
  });

  it("offers the owner's roster groups as the choices of pubsub#roster_groups_allowed, a list-multi (XEP-0060 §16.4.4)", async () => {
    for (const [jid, group] of [['bob@localhost', 'Friends'], ['dave@localhost', 'Work']]) {
      await pep.alice.iq(`<iq type='set'><query xmlns='jabber:iq:roster'><item jid='${jid}'><group>${group}</group></item></query></iq>`);
    }
    await pep.alice.iq(publish(BLOG, entry('for friends'), { 'pubsub#access_model': 'roster', 'pubsub#roster_groups_allowed': 'Friends' }));
    const form = await pep.alice.iq(`<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='${BLOG}'/></pubsub></iq>`);
    const field = form.getChild('pubsub')!.getChild('configure')!.getChild('x')!.getChildren('field').find((f) => f.attrs.var === 'pubsub#roster_groups_allowed')!;
    expect(field.attrs.type).to.equal('list-multi');
    expect(field.getChildren('value').map((v) => v.getText())).to.deep.equal(['Friends']);
    expect(field.getChildren('option').map((o) => o.getChildText('value'))).to.deep.equal(['Friends', 'Work']);
  });

  it('lets the owner list, add and remove a node’s subscribers, and no one else', async () => {
    await pep.alice.iq(publish(BLOG, entry('x'), { 'pubsub#access_model': 'open' }));
    await pep.dave.iq(subscribeTo('alice@localhost', BLOG, 'dave@localhost/pc'));
    const list = async () =>
      (await pep.alice.iq(`<iq type='get' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB_OWNER}'><subscriptions node='${BLOG}'/></pubsub></iq>`))
        .getChild('pubsub', NS_PUBSUB_OWNER)!
        .getChild('subscriptions')!
        .getChildren('subscription')
        .map((s) => `${s.attrs.jid} ${s.attrs.subscription}`);
    expect(await list()).to.deep.equal(['dave@localhost/pc subscribed']);

    const modify = (who: TestClient, jid: string, state: string) =>
      who.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB_OWNER}'><subscriptions node='${BLOG}'><subscription jid='${jid}' subscription='${state}'/></subscriptions></pubsub></iq>`);
    expect((await modify(pep.alice, 'bob@localhost', 'subscribed')).attrs.type).to.equal('result');
    await pep.bob.waitFor(event(BLOG)); // the last item, as for any new subscriber
    expect((await modify(pep.alice, 'dave@localhost/pc', 'none')).attrs.type).to.equal('result');
    expect(await list()).to.deep.equal(['bob@localhost subscribed']);
    expect(condition(await modify(pep.dave, 'dave@localhost/pc', 'subscribed'))).to.equal('forbidden');
  });
});
