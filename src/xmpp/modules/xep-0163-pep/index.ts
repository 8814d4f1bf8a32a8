import { getFormType } from '../../../util/data-form.js';
import { parseJid, type Jid } from '../../../util/jid.js';
import { parseXml } from '../../stream/parse-xml.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule, type IqRequest } from '../../module.js';
import type { RosterApi } from '../rfc6121-roster/index.js';
import type { DiscoApi } from '../xep-0030-disco/index.js';
import { AccountPrivacy } from './account-privacy.js';
import { AffiliationRequests } from './affiliations.js';
import { advertise } from './disco.js';
import { CapsCache } from './caps-cache.js';
import { applyForm, ConfigValueError, configForm, defaultConfig, itemLimit, NS_NODE_CONFIG, NS_PUBLISH_OPTIONS, satisfies, type NodeConfig } from './config.js';
import { PepNotifier } from './notifier.js';
import { checkItemId, existingNode, itemElement, nodeOf, NS_PUBSUB, NS_PUBSUB_OWNER, pubsubError, readDenied, submittedForm, unsupported } from './protocol.js';
import { PepStore, requestedItems } from './store.js';
import { SubscriptionRequests } from './subscription-requests.js';
import { PepSubscriptions } from './subscriptions.js';

export { NS_PUBSUB, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from './protocol.js';

/** What the pep module offers modules that depend on it. */
export interface PepApi {
  /** The payload of item `id` of an account's node, or undefined. */
  item(owner: Jid, node: string, id: string): Promise<XmlElement | undefined>;
  /** Every item of an account's node, oldest first. */
  items(owner: Jid, node: string): Promise<Array<{ id: string; payload: XmlElement }>>;
  /** Publishes as the owner would (notifications included); a missing node is created with `createWith`. */
  publish(owner: Jid, node: string, id: string, payload: XmlElement, createWith?: NodeConfig): Promise<void>;
  /** Retracts items as the owner would, notifying subscribers. */
  retract(owner: Jid, node: string, ids: readonly string[]): Promise<void>;
  /** An account's node configuration, or undefined when the node does not exist. */
  config(owner: Jid, node: string): Promise<NodeConfig | undefined>;
  /**
   * Declares a node (by name, in every account) whose oldest item makes room for a new one even at 'max',
   * where a full node otherwise refuses it: for nodes whose items are a cache of state the clients also
   * hold (XEP-0490's displayed state per chat), not the user's only copy of their data (bookmarks).
   */
  dropOldestWhenFull(node: string): void;
}
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/**
 * XEP-0163 Personal Eventing Protocol: every account is a pubsub service
 * (XEP-0060) with nodes created on first publish. Owners publish, retract,
 * configure and delete; others retrieve and subscribe as the node's access
 * model allows (open, presence, roster groups, whitelist — whitelist is the
 * owner and the members the owner names, XEP-0060 §4.5; with no members it is
 * the owner alone, which is what XEP-0223 private storage and XEP-0402
 * bookmarks ask for).
 *
 * Who is notified of what (XEP-0163 §4: caps `+notify`, presence
 * subscriptions, explicit subscriptions, last items on coming online) is
 * notifier.ts; capabilities are asked once per ver and cached
 * (caps-cache.ts); subscribe, unsubscribe and the subscription lists are
 * subscription-requests.ts; what disco shows of accounts and nodes is
 * disco.ts; what those without a subscription learn is account-privacy.ts.
 *
 * Affiliations (members and outcasts, set by the owner) are
 * affiliations.ts. Not here (yet): subscription options. `pubsub#persist_items` is kept as configured but items are stored
 * either way (the last one is needed for last-published delivery).
 */
export default defineModule({
  name: 'pep',
  implements: 'XEP-0163 (PEP, on XEP-0060), XEP-0223',
  depends: ['roster', 'disco', 'caps'],
  options: {
    maxItemsLimit: { type: 'number', default: 256, integer: true, min: 1, max: 100_000, doc: "Most items one PEP node keeps ('max' in pubsub#max_items, or any larger number, means this). A node asking for fewer drops its oldest item for a new one; a node at 'max' (bookmarks, private storage) refuses the new one instead, with conflict/node-full, except XEP-0490's displayed state (one item per chat), whose oldest item gives way." },
    maxNodes: { type: 'number', default: 256, integer: true, min: 1, doc: 'Most PEP nodes one account may have.' },
    maxPayloadBytes: { type: 'number', default: 256 * 1024, integer: true, min: 1024, doc: 'Largest item payload accepted, in bytes of XML.' },
    capsTimeoutMs: { type: 'number', default: 10_000, integer: true, min: 100, doc: "How long to wait for a client's disco#info answer to a caps query." },
  },
  tables: [
    { name: 'pep_nodes', description: 'PEP nodes: pk = owner bare JID, sk = node, value = JSON node configuration.' },
    { name: 'pep_subscriptions', description: 'PEP explicit subscriptions (XEP-0060 §6.1): pk = owner bare JID, sk = node + U+0000 + subscriber JID, value = JSON {node, jid, subid}.' },
    { name: 'pep_items', description: 'PEP items: pk = owner bare JID, sk = node + U+0000 + publication sequence, value = JSON item (id, payload XML).' },
  ],
  start(ctx) {
    const roster = ctx.use<RosterApi>('roster');
    const disco = ctx.use<DiscoApi>('disco');
    const store = new PepStore(ctx.table('pep_nodes'), ctx.table('pep_items'));
    const limit = ctx.options.maxItemsLimit;
    /** Nodes other modules declared with dropOldestWhenFull. */
    const rolling = new Set<string>();
    const caps = new CapsCache(
      (full, node) => {
        const domain = parseJid(full).domain;
        const from = ctx.server.isLocalDomain(domain) ? domain : ctx.server.hosts[0]!;
        return ctx.server.sendIq(x('iq', { type: 'get', from, to: full }, x('query', { xmlns: NS_DISCO_INFO, node })), ctx.options.capsTimeoutMs);
      },
      10_000,
    );
    const subscriptions = new PepSubscriptions(ctx.table('pep_subscriptions'));
    const notifier = new PepNotifier(ctx.server, roster, store, subscriptions, caps, ctx.log);
    const subscriptionRequests = new SubscriptionRequests(store, subscriptions, notifier);
    const affiliations = new AffiliationRequests(store);
    const privacy = new AccountPrivacy(store, roster, notifier);
    ctx.provide<PepApi>({
      async item(owner, node, id) {
        const found = (await store.list(owner.bare, node)).find((i) => i.id === id);
        return found === undefined || found.xml === '' ? undefined : parseXml(found.xml);
      },
      async items(owner, node) {
        return (await store.list(owner.bare, node)).filter((i) => i.xml !== '').map((i) => ({ id: i.id, payload: parseXml(i.xml) }));
      },
      publish: (owner, node, id, payload, createWith) => publishItem(owner, node, id, payload, owner.bare, { config: createWith ?? defaultConfig(), fields: [] }),
      retract: (owner, node, ids) => retractItems(owner, node, ids, true),
      config: (owner, node) => store.getNode(owner.bare, node),
      dropOldestWhenFull: (node) => void rolling.add(node),
    });

    advertise(ctx, disco, store, notifier);

    // Local resources: their presence (and caps) is on the session.
    ctx.hook('session/presence', ({ session }) => notifier.localPresence(session.jid, session.presence));
    ctx.hook('session/closed', ({ session }) => notifier.sessionClosed(session.jid));

    // Federated contacts: their presence reaches each local owner's bare JID. Runs before the presence module, which claims it.
    ctx.hook(
      'presence/bare',
      ({ stanza, from, to }) => {
        if (ctx.server.isLocalDomain(from.domain) || from.resource === '') return false;
        const type = stanza.attrs.type;
        if (type === undefined || type === 'unavailable') notifier.remoteContactPresence(to.bare, from, stanza);
        return false;
      },
      100,
    );

    // --- pubsub requests ------------------------------------------------------

    function ownerOnly(req: IqRequest): string {
      if (!req.isSelf) throw new StanzaError('forbidden', 'only the account owner may do this');
      return req.to.bare;
    }

    async function publish(req: IqRequest, pubsub: XmlElement, publishEl: XmlElement): Promise<XmlElement> {
      ownerOnly(req);
      const node = nodeOf(publishEl);
      const items = publishEl.getChildren('item');
      if (items.length === 0) throw pubsubError('bad-request', 'item-required');
      if (items.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one item per publish');
      const item = items[0]!;
      const payloads = item.elements();
      if (payloads.length === 0) throw pubsubError('bad-request', 'payload-required');
      if (payloads.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one payload element per item');
      const options = submittedForm(pubsub.getChild('publish-options'));
      let wanted: { config: NodeConfig; fields: string[] } | null = null;
      if (options !== undefined) {
        const type = getFormType(options);
        if (type !== undefined && type !== NS_PUBLISH_OPTIONS) throw new StanzaError('bad-request', `publish-options FORM_TYPE must be ${NS_PUBLISH_OPTIONS}`);
        try {
          wanted = applyForm(defaultConfig(), options, limit);
        } catch (e) {
          if (e instanceof ConfigValueError) throw pubsubError('conflict', 'precondition-not-met', undefined, e.message);
          throw e;
        }
      }
      const id = item.attrs.id || randomHex(12);
      await publishItem(req.to.toBare(), node, id, payloads[0]!, req.from.full, wanted);
      return x('pubsub', { xmlns: NS_PUBSUB }, x('publish', { node }, x('item', { id })));
    }

    /** Stores an item (creating the node, with `wanted`'s configuration if given) and tells whoever should hear of it. */
    async function publishItem(ownerJid: Jid, node: string, id: string, payload: XmlElement, publisher: string, wanted: { config: NodeConfig; fields: string[] } | null): Promise<void> {
      const owner = ownerJid.bare;
      checkItemId(id);
      const xml = payload.toString();
      // Here, not in the iq handler: what other modules publish for the user (XEP-0490 server assist) is bounded alike.
      if (Buffer.byteLength(xml, 'utf8') > ctx.options.maxPayloadBytes) throw pubsubError('not-acceptable', 'payload-too-big');
      const { config, stored } = await store.withLock(owner, async () => {
        let config = await store.getNode(owner, node);
        if (config !== undefined) {
          if (wanted !== null && !satisfies(config, wanted.config, wanted.fields)) {
            throw pubsubError('conflict', 'precondition-not-met', undefined, 'the node exists with a different configuration');
          }
        } else {
          if ((await store.countNodes(owner, ctx.options.maxNodes)) >= ctx.options.maxNodes) throw new StanzaError('resource-constraint', 'too many nodes');
          config = wanted?.config ?? defaultConfig();
          await store.putNode(owner, node, config);
        }
        // XEP-0060 §7.1.2.5 lets a full node retract its oldest item, which is what a node asking for
        // N items wants. A node at 'max' asked for more than the service keeps (XEP-0402 bookmarks,
        // XEP-0223 storage): its oldest item is the user's data, so the publish is refused (§7.1.3.4).
        const stored = await store.publish(owner, node, { id, xml, publisher }, itemLimit(config, limit), config.maxItems !== 'max' || rolling.has(node));
        if (stored === null) throw pubsubError('conflict', 'node-full', undefined, `the node keeps at most ${limit} items`);
        return { config, stored };
      });
      await notifier.broadcast(owner, node, config, () => x('items', { node }, itemElement(stored, config.deliverPayloads)));
      await ctx.server.emit('pep/published', { owner: ownerJid, node, itemId: id, payload });
      await ctx.server.emit('pep/node-changed', { owner: ownerJid, node });
    }

    async function retract(req: IqRequest, el: XmlElement): Promise<void> {
      ownerOnly(req);
      const ids = el.getChildren('item').map((i) => i.attrs.id);
      if (ids.length === 0) throw pubsubError('bad-request', 'item-required');
      if (ids.some((id) => id === undefined || id === '')) throw pubsubError('bad-request', 'item-required');
      await retractItems(req.to.toBare(), nodeOf(el), ids as string[], el.attrs.notify === 'true' || el.attrs.notify === '1');
    }

    async function retractItems(ownerJid: Jid, node: string, ids: readonly string[], notifyAsked: boolean): Promise<void> {
      const owner = ownerJid.bare;
      const config = await store.withLock(owner, async () => {
        const config = await existingNode(store, owner, node);
        // All or nothing (XEP-0060 §7.2.3): a missing id fails the request before anything is taken out.
        const present = new Set((await store.list(owner, node)).map((item) => item.id));
        const missing = ids.find((id) => !present.has(id));
        if (missing !== undefined) throw new StanzaError('item-not-found', `no item '${missing}'`);
        for (const id of ids) await store.retract(owner, node, id);
        return config;
      });
      if (notifyAsked || config.notifyRetract) await notifier.broadcast(owner, node, config, () => x('items', { node }, ...ids.map((id) => x('retract', { id }))));
      await ctx.server.emit('pep/node-changed', { owner: ownerJid, node });
    }

    async function create(req: IqRequest, pubsub: XmlElement, el: XmlElement): Promise<XmlElement | null> {
      const owner = ownerOnly(req);
      const node = nodeOf(el);
      const form = submittedForm(pubsub.getChild('configure'));
      let config = defaultConfig();
      if (form !== undefined) {
        try {
          config = applyForm(config, form, limit).config;
        } catch (e) {
          if (e instanceof ConfigValueError) throw new StanzaError('not-acceptable', e.message);
          throw e;
        }
      }
      await store.withLock(owner, async () => {
        if ((await store.getNode(owner, node)) !== undefined) throw new StanzaError('conflict', 'the node exists');
        if ((await store.countNodes(owner, ctx.options.maxNodes)) >= ctx.options.maxNodes) throw new StanzaError('resource-constraint', 'too many nodes');
        await store.putNode(owner, node, config);
      });
      return null;
    }

    async function items(req: IqRequest, el: XmlElement): Promise<XmlElement> {
      const owner = req.to.bare;
      const node = nodeOf(el);
      const config = await existingNode(store, owner, node);
      if (!(await notifier.mayRead(owner, config, req.from.bare))) throw readDenied(config, req.from.bare);
      const list = await requestedItems(store, owner, node, el);
      // PEP answers a request for ids none of which exist with item-not-found, as it always has.
      if (list.length === 0 && el.getChildren('item').some((i) => i.attrs.id !== undefined)) throw new StanzaError('item-not-found');
      return x('pubsub', { xmlns: NS_PUBSUB }, x('items', { node }, ...list.map((i) => itemElement(i, true))));
    }

    ctx.iq(
      'set',
      NS_PUBSUB,
      'pubsub',
      privacy.guard(async (req) => {
        const pubsub = req.payload;
        const publishEl = pubsub.getChild('publish');
        if (publishEl !== undefined) return publish(req, pubsub, publishEl);
        const retractEl = pubsub.getChild('retract');
        if (retractEl !== undefined) return retract(req, retractEl);
        const createEl = pubsub.getChild('create');
        if (createEl !== undefined) return create(req, pubsub, createEl);
        const subscribeEl = pubsub.getChild('subscribe');
        if (subscribeEl !== undefined) return subscriptionRequests.subscribe(req, subscribeEl);
        const unsubscribeEl = pubsub.getChild('unsubscribe');
        if (unsubscribeEl !== undefined) return subscriptionRequests.unsubscribe(req, unsubscribeEl);
        if (pubsub.getChild('options') !== undefined) throw unsupported('subscription-options');
        throw new StanzaError('bad-request', 'no pubsub action');
      }),
      'account',
    );

    ctx.iq(
      'get',
      NS_PUBSUB,
      'pubsub',
      privacy.guard(async (req) => {
        const itemsEl = req.payload.getChild('items');
        if (itemsEl !== undefined) return items(req, itemsEl);
        const subscriptionsEl = req.payload.getChild('subscriptions');
        const affiliationsEl = req.payload.getChild('affiliations');
        // Both lists are answered even when empty, which a missing account does not do.
        if (subscriptionsEl !== undefined || affiliationsEl !== undefined) await privacy.hideFrom(req);
        if (subscriptionsEl !== undefined) return subscriptionRequests.mine(req, subscriptionsEl);
        if (affiliationsEl !== undefined) return affiliations.mine(req.to.bare, req.from.bare, affiliationsEl);
        if (req.payload.getChild('options') !== undefined) throw unsupported('subscription-options');
        throw new StanzaError('bad-request', 'no pubsub request');
      }),
      'account',
    );

    // --- pubsub#owner ---------------------------------------------------------

    async function rosterGroups(owner: string): Promise<string[]> {
      return (await roster.store.all(owner)).flatMap((item) => item.groups);
    }

    ctx.iq(
      'get',
      NS_PUBSUB_OWNER,
      'pubsub',
      privacy.guard(async (req) => {
        const owner = ownerOnly(req);
        const configure = req.payload.getChild('configure');
        if (configure !== undefined) {
          const node = nodeOf(configure);
          const config = await existingNode(store, owner, node);
          return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('configure', { node }, configForm(config, await rosterGroups(owner))));
        }
        if (req.payload.getChild('default') !== undefined) return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('default', null, configForm(defaultConfig(), await rosterGroups(owner))));
        const subscriptionsEl = req.payload.getChild('subscriptions');
        if (subscriptionsEl !== undefined) return subscriptionRequests.ofNode(owner, subscriptionsEl);
        const affiliationsEl = req.payload.getChild('affiliations');
        if (affiliationsEl !== undefined) return affiliations.ofNode(owner, affiliationsEl);
        throw new StanzaError('bad-request', 'no pubsub#owner request');
      }),
      'account',
    );

    ctx.iq(
      'set',
      NS_PUBSUB_OWNER,
      'pubsub',
      privacy.guard(async (req) => {
        const owner = ownerOnly(req);
        const configure = req.payload.getChild('configure');
        if (configure !== undefined) {
          const node = nodeOf(configure);
          const form = submittedForm(configure);
          if (form === undefined) throw new StanzaError('bad-request', 'a configure set carries a form');
          if (form.type === 'cancel') return null;
          if (form.type !== 'submit') throw new StanzaError('bad-request', 'submit the configuration form');
          const type = getFormType(form);
          if (type !== undefined && type !== NS_NODE_CONFIG) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS_NODE_CONFIG}`);
          await store.withLock(owner, async () => {
            const current = await existingNode(store, owner, node);
            let next: NodeConfig;
            try {
              next = applyForm(current, form, limit).config;
            } catch (e) {
              if (e instanceof ConfigValueError) throw new StanzaError('not-acceptable', e.message);
              throw e;
            }
            await store.putNode(owner, node, next);
            if (itemLimit(next, limit) < itemLimit(current, limit)) await store.trim(owner, node, itemLimit(next, limit));
          });
          return null;
        }
        const del = req.payload.getChild('delete');
        if (del !== undefined) {
          const node = nodeOf(del);
          const config = await existingNode(store, owner, node);
          if (config.notifyDelete) await notifier.broadcast(owner, node, config, () => x('delete', { node }));
          await store.withLock(owner, () => store.deleteNode(owner, node));
          await subscriptions.deleteNode(owner, node);
          await ctx.server.emit('pep/node-changed', { owner: req.to.toBare(), node });
          return null;
        }
        const purge = req.payload.getChild('purge');
        if (purge !== undefined) {
          const node = nodeOf(purge);
          const config = await existingNode(store, owner, node);
          await store.withLock(owner, () => store.purge(owner, node));
          if (config.notifyRetract) await notifier.broadcast(owner, node, config, () => x('purge', { node }));
          await ctx.server.emit('pep/node-changed', { owner: req.to.toBare(), node });
          return null;
        }
        const subscriptionsEl = req.payload.getChild('subscriptions');
        if (subscriptionsEl !== undefined) return subscriptionRequests.modify(owner, subscriptionsEl);
        const affiliationsEl = req.payload.getChild('affiliations');
        if (affiliationsEl !== undefined) return affiliations.modify(owner, affiliationsEl);
        throw new StanzaError('bad-request', 'no pubsub#owner request');
      }),
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      notifier.accountDeleted(jid.bare);
      await store.deleteAccount(jid.bare);
      await subscriptions.deleteAccount(jid.bare);
    });
  },
});
