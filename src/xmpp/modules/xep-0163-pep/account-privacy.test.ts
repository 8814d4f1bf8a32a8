import { expect } from 'chai';
import type { XmlElement } from '../../../util/xml.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from './index.js';
import { appCondition, condition, getItems, MOOD, publish, startPepEachTest, subscribe } from './test-support.js';

const NOTES = 'urn:example:private-notes';
const OPEN = 'urn:example:open-status';

/** Every pubsub request a stranger can send an account's bare JID, by name. */
function requests(to: string): Record<string, string> {
  const set = (ns: string, body: string) => `<iq type='set' to='${to}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
  const get = (ns: string, body: string) => `<iq type='get' to='${to}'><pubsub xmlns='${ns}'>${body}</pubsub></iq>`;
  return {
    'items of a missing node': getItems(to, 'urn:example:none'),
    'items of a presence node': getItems(to, MOOD),
    'items of a whitelist node': getItems(to, NOTES),
    'items without a node': get(NS_PUBSUB, `<items/>`),
    'subscribe to a missing node': set(NS_PUBSUB, `<subscribe node='urn:example:none' jid='dave@localhost/pc'/>`),
    'subscribe to a presence node': set(NS_PUBSUB, `<subscribe node='${MOOD}' jid='dave@localhost/pc'/>`),
    'subscribe with a JID not its own': set(NS_PUBSUB, `<subscribe node='${MOOD}' jid='bob@localhost'/>`),
    'unsubscribe': set(NS_PUBSUB, `<unsubscribe node='${MOOD}' jid='dave@localhost/pc'/>`),
    'publish': set(NS_PUBSUB, `<publish node='${MOOD}'><item><mood xmlns='${MOOD}'/></item></publish>`),
    'retract': set(NS_PUBSUB, `<retract node='${MOOD}'><item id='m1'/></retract>`),
    'create': set(NS_PUBSUB, `<create node='urn:example:new'/>`),
    'own subscriptions': get(NS_PUBSUB, `<subscriptions/>`),
    'own affiliations': get(NS_PUBSUB, `<affiliations/>`),
    'subscription options': get(NS_PUBSUB, `<options node='${MOOD}' jid='dave@localhost/pc'/>`),
    'configure get': get(NS_PUBSUB_OWNER, `<configure node='${MOOD}'/>`),
    'configure set': set(NS_PUBSUB_OWNER, `<configure node='${MOOD}'><x xmlns='jabber:x:data' type='submit'/></configure>`),
    'node affiliations get': get(NS_PUBSUB_OWNER, `<affiliations node='${MOOD}'/>`),
    'node affiliations set': set(NS_PUBSUB_OWNER, `<affiliations node='${MOOD}'><affiliation jid='dave@localhost' affiliation='member'/></affiliations>`),
    'node subscriptions get': get(NS_PUBSUB_OWNER, `<subscriptions node='${MOOD}'/>`),
    'delete': set(NS_PUBSUB_OWNER, `<delete node='${MOOD}'/>`),
  };
}

/** The answer without addresses and id, so the answers of two accounts compare. */
const shape = (r: XmlElement): string => {
  const copy = r.clone();
  for (const a of ['from', 'to', 'id']) delete copy.attrs[a];
  return copy.toString();
};

describe('XEP-0163 PEP: what a stranger learns of an account (RFC 6121 §8.5.1)', () => {
  const pep = startPepEachTest();
  beforeEach(async () => {
    await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'm1'));
    await pep.alice.iq(publish(NOTES, `<notes xmlns='${NOTES}'/>`, { 'pubsub#access_model': 'whitelist' }, 'n1'));
  });

  it('answers a stranger every pubsub request as it answers for an account that does not exist, while no node is open to it', async () => {
    const atGhost = requests('ghost@localhost');
    const differ: string[] = [];
    for (const [name, stanza] of Object.entries(requests('alice@localhost'))) {
      const ghost = await pep.dave.iq(atGhost[name]!);
      expect(condition(ghost), `${name} to ghost`).to.equal('service-unavailable');
      const answer = await pep.dave.iq(stanza);
      if (shape(answer) !== shape(ghost)) differ.push(`${name}: ${condition(answer) ?? answer.attrs.type}`);
    }
    expect(differ).to.deep.equal([]);
    // Nothing was changed by the refused requests.
    const mine = await pep.alice.iq(`<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><affiliations node='${MOOD}'/></pubsub></iq>`);
    expect(mine.getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation')).to.have.length(1);
  });

  it('serves an open node to a stranger, whose precise errors then tell it nothing new', async () => {
    await pep.alice.iq(publish(OPEN, `<status xmlns='${OPEN}'>hi</status>`, { 'pubsub#access_model': 'open' }, 's1'));
    const items = await pep.dave.iq(getItems('alice@localhost', OPEN));
    expect(items.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['s1']);
    const sub = await pep.dave.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${OPEN}' jid='dave@localhost/pc'/></pubsub></iq>`);
    expect(sub.attrs.type).to.equal('result');
    const missingItem = await pep.dave.iq(`<iq type='get' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><items node='${OPEN}'><item id='nope'/></items></pubsub></iq>`);
    expect(condition(missingItem)).to.equal('item-not-found');
    const presenceNode = await pep.dave.iq(getItems('alice@localhost', MOOD));
    expect([condition(presenceNode), appCondition(presenceNode)]).to.deep.equal(['not-authorized', 'presence-subscription-required']);
  });

  it('keeps the precise errors for the owner and for contacts', async () => {
    await subscribe(pep.bob, pep.alice);
    expect(condition(await pep.bob.iq(getItems('alice@localhost', 'urn:example:none')))).to.equal('item-not-found');
    const closed = await pep.bob.iq(getItems('alice@localhost', NOTES));
    expect([condition(closed), appCondition(closed)]).to.deep.equal(['not-allowed', 'closed-node']);
    const pub = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><publish node='${MOOD}'><item><mood xmlns='${MOOD}'/></item></publish></pubsub></iq>`);
    expect(condition(pub)).to.equal('forbidden');
    expect(condition(await pep.alice.iq(getItems('alice@localhost', 'urn:example:none')))).to.equal('item-not-found');
  });
});
