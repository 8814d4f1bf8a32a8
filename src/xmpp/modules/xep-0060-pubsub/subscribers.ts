import { tryParseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { itemElement, nodeOf, NS_PUBSUB, pubsubError } from '../xep-0163-pep/protocol.js';
import type { Subscription } from '../xep-0163-pep/subscriptions.js';
import { affiliationOf, getNode, mayRead, readRefusal, requireRoom, sendEvent, type Service } from './node.js';
import { withNodeLock } from './publishing.js';

function subscriptionElement(s: Subscription): XmlElement {
  return x('subscription', { node: s.node, jid: s.jid, subid: s.subid, subscription: 'subscribed' });
}

/** §6.1.3.1: the JID subscribed must be the requester's bare JID or one of its full JIDs. */
function ownJid(from: Jid, jid: string | undefined): string {
  const parsed = tryParseJid(jid ?? '');
  if (parsed === null || jid === '' || parsed.bare !== from.bare) throw pubsubError('bad-request', 'invalid-jid');
  return parsed.full;
}

/**
 * §6.1: subscribes as the access model allows (open: anyone; whitelist:
 * those with an affiliation). Subscribing again keeps the subscription (one
 * per JID, §6.1.6). A node that sends its last item on subscription
 * (`on_sub`, or `on_sub_and_presence`, which has no presence to follow here) sends it at once (§6.1.7).
 */
export async function subscribe(service: Service, from: Jid, el: XmlElement): Promise<XmlElement> {
  const node = nodeOf(el);
  const jid = ownJid(from, el.attrs.jid);
  // Under the node's lock, so that an owner's ban or closing of the node cannot pass between the check and the add.
  const { record, subscription } = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    if (!mayRead(record, from.bare)) throw readRefusal(record, from.bare);
    requireRoom(service, await service.subscriptions.ofNode(service.jid, node), [jid]);
    return { record, ...(await service.subscriptions.add(service.jid, node, jid)) };
  });
  if (record.config.sendLastPublishedItem !== 'never') {
    const last = await service.store.last(service.jid, node);
    if (last !== undefined) await sendEvent(service, jid, x('items', { node }, itemElement(last, record.config.deliverPayloads)));
  }
  return x('pubsub', { xmlns: NS_PUBSUB }, subscriptionElement(subscription));
}

/** §6.2: the subscriber (or an owner of the node) ends a subscription. */
export async function unsubscribe(service: Service, from: Jid, el: XmlElement): Promise<null> {
  const node = nodeOf(el);
  const jid = tryParseJid(el.attrs.jid ?? '');
  if (jid === null || el.attrs.jid === '') throw pubsubError('bad-request', 'invalid-jid');
  // Under the node's lock, as every add is: a subscribe of the same JID cannot pass between the two rows removed.
  return withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    // §6.2.3.3: someone else's subscription is the owner's to end, nobody else's.
    if (jid.bare !== from.bare && affiliationOf(record, from.bare) !== 'owner') throw new StanzaError('forbidden', 'not your subscription');
    const sub = await service.subscriptions.get(service.jid, node, jid.full);
    if (sub === undefined) throw pubsubError('unexpected-request', 'not-subscribed');
    if (el.attrs.subid !== undefined && el.attrs.subid !== sub.subid) throw pubsubError('not-acceptable', 'invalid-subid');
    await service.subscriptions.remove(service.jid, node, jid.full);
    return null;
  });
}

/** §5.6: the requester's own subscriptions, at every node or one, from the index by subscriber (by-jid.ts). */
export async function mySubscriptions(service: Service, from: Jid, el: XmlElement): Promise<XmlElement> {
  const node = el.attrs.node;
  const own = await service.subscriptions.ofSubscriber(service.jid, from.bare, node);
  return x('pubsub', { xmlns: NS_PUBSUB }, x('subscriptions', { node }, ...own.map(subscriptionElement)));
}

/** §5.7: the requester's own affiliations, with every node or one. */
export async function myAffiliations(service: Service, from: Jid, el: XmlElement): Promise<XmlElement> {
  const only = el.attrs.node;
  // Only the node rows the index names for the requester (by-jid.ts); the affiliation itself is the node row's.
  const names = only === undefined ? await service.affiliated.nodesOf(service.jid, from.bare) : [only];
  const listed: XmlElement[] = [];
  for (const node of names) {
    const record = await service.store.getNode(service.jid, node);
    const affiliation = record === undefined ? 'none' : affiliationOf(record, from.bare);
    if (affiliation !== 'none') listed.push(x('affiliation', { node, affiliation }));
  }
  return x('pubsub', { xmlns: NS_PUBSUB }, x('affiliations', { node: only }, ...listed));
}
