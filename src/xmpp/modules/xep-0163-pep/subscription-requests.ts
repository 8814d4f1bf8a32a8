import { parseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { IqRequest } from '../../module.js';
import type { PepNotifier } from './notifier.js';
import { existingNode, nodeOf, NS_PUBSUB, NS_PUBSUB_OWNER, pubsubError, readDenied } from './protocol.js';
import type { PepStore } from './store.js';
import type { PepSubscriptions, Subscription } from './subscriptions.js';

/**
 * The subscription requests of XEP-0060 on a PEP service: subscribe (§6.1),
 * unsubscribe (§6.2), a requester's own subscriptions (§5.6), and the
 * owner's view and changes of a node's subscribers (§8.8).
 */
export class SubscriptionRequests {
  constructor(
    private readonly store: PepStore,
    private readonly subscriptions: PepSubscriptions,
    private readonly notifier: PepNotifier,
  ) {}

  async subscribe(req: IqRequest, el: XmlElement): Promise<XmlElement> {
    const owner = req.to.bare;
    const node = nodeOf(el);
    const jid = this.ownJid(req, el);
    const config = await existingNode(this.store, owner, node);
    if (!(await this.notifier.mayRead(owner, config, req.from.bare))) throw readDenied(config, req.from.bare);
    const { subscription } = await this.subscriptions.add(owner, node, jid);
    await this.notifier.sendLastTo(owner, node, config, jid);
    return x('pubsub', { xmlns: NS_PUBSUB }, subscriptionElement(subscription));
  }

  async unsubscribe(req: IqRequest, el: XmlElement): Promise<null> {
    const owner = req.to.bare;
    const node = nodeOf(el);
    const jid = el.attrs.jid;
    // §6.2.3.3: only the subscriber (or the owner) may end a subscription.
    if (jid === undefined || (parseJid(jid).bare !== req.from.bare && !req.isSelf)) throw new StanzaError('forbidden', 'not your subscription');
    await existingNode(this.store, owner, node);
    const sub = await this.subscriptions.get(owner, node, jid);
    if (sub === undefined || (el.attrs.subid !== undefined && el.attrs.subid !== sub.subid)) throw pubsubError('unexpected-request', 'not-subscribed');
    await this.subscriptions.remove(owner, node, jid);
    return null;
  }

  /** §5.6: the requester's subscriptions at this account, of one node or all. */
  async mine(req: IqRequest, el: XmlElement): Promise<XmlElement> {
    const node = el.attrs.node;
    const all = node === undefined ? await this.subscriptions.all(req.to.bare) : await this.subscriptions.ofNode(req.to.bare, node);
    const own = all.filter((s) => parseJid(s.jid).bare === req.from.bare);
    return x('pubsub', { xmlns: NS_PUBSUB }, x('subscriptions', { node }, ...own.map(subscriptionElement)));
  }

  /** §8.8.1: a node's subscribers, for its owner. */
  async ofNode(owner: string, el: XmlElement): Promise<XmlElement> {
    const node = nodeOf(el);
    await existingNode(this.store, owner, node);
    const subs = await this.subscriptions.ofNode(owner, node);
    return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('subscriptions', { node }, ...subs.map((s) => x('subscription', { jid: s.jid, subscription: 'subscribed', subid: s.subid }))));
  }

  /** §8.8.2: the owner subscribes entities ('subscribed') or removes them ('none'). */
  async modify(owner: string, el: XmlElement): Promise<null> {
    const node = nodeOf(el);
    const config = await existingNode(this.store, owner, node);
    const changes = el.getChildren('subscription').map((s) => ({ jid: validJid(s.attrs.jid), state: s.attrs.subscription }));
    if (changes.some((c) => c.state !== 'none' && c.state !== 'subscribed')) throw new StanzaError('bad-request', "subscription must be 'none' or 'subscribed'");
    for (const c of changes) {
      if (c.state === 'none') await this.subscriptions.remove(owner, node, c.jid.full);
      else if ((await this.subscriptions.add(owner, node, c.jid.full)).created) await this.notifier.sendLastTo(owner, node, config, c.jid.full);
    }
    return null;
  }

  /** §6.1.3.1: the JID to subscribe must be the requester's bare JID or one of its full JIDs. */
  private ownJid(req: IqRequest, el: XmlElement): string {
    const jid = validJid(el.attrs.jid);
    if (jid.bare !== req.from.bare) throw pubsubError('bad-request', 'invalid-jid');
    return jid.full;
  }
}

function subscriptionElement(s: Subscription): XmlElement {
  return x('subscription', { node: s.node, jid: s.jid, subid: s.subid, subscription: 'subscribed' });
}

function validJid(jid: string | undefined): Jid {
  if (jid === undefined || jid === '') throw pubsubError('bad-request', 'invalid-jid');
  try {
    return parseJid(jid);
  } catch {
    throw pubsubError('bad-request', 'invalid-jid');
  }
}
