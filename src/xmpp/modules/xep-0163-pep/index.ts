import { DataFormError, findForm, getFormType, type DataForm } from '../../../util/data-form.js';
import { parseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError, type StanzaErrorCondition } from '../../errors.js';
import { defineModule, type IqRequest } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { RosterApi } from '../rfc6121-roster/index.js';
import type { DiscoApi } from '../xep-0030-disco/index.js';
import { CapsCache, capsOf, notifyNodes, type CapsRef } from './caps-cache.js';
import { applyForm, ConfigValueError, configForm, defaultConfig, itemLimit, NS_NODE_CONFIG, NS_PUBLISH_OPTIONS, satisfies, type NodeConfig } from './config.js';
import { PepStore, type StoredItem } from './store.js';
import { randomHex } from '../../../util/random-token.js';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/** XEP-0060 §10 features a PEP account advertises (XEP-0163 §6.1). */
const FEATURES = [
  'access-open',
  'access-presence',
  'access-whitelist',
  'auto-create',
  'auto-subscribe',
  'config-node',
  'config-node-max',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'filtered-notifications',
  'item-ids',
  'last-published',
  'multi-items',
  'persistent-items',
  'publish',
  'publish-options',
  'purge-nodes',
  'retract-items',
  'retrieve-default',
  'retrieve-items',
];

/** A StanzaError carrying a pubsub#errors application condition (XEP-0060 §7.1.3, §6.5.9). */
function pubsubError(condition: StanzaErrorCondition, app: string, attrs?: Record<string, string>, text?: string): StanzaError {
  return new StanzaError(condition, text, undefined, x(app, { xmlns: NS_PUBSUB_ERRORS, ...attrs }));
}

const unsupported = (feature: string) => pubsubError('feature-not-implemented', 'unsupported', { feature });
const subscribedFrom = (s: string | undefined) => s === 'from' || s === 'both';
const subscribedTo = (s: string | undefined) => s === 'to' || s === 'both';

function nodeOf(el: XmlElement): string {
  const node = el.attrs.node;
  if (node === undefined || node === '') throw pubsubError('bad-request', 'nodeid-required');
  return node;
}

function itemElement(item: StoredItem, withPayload: boolean): XmlElement {
  const el = x('item', { id: item.id });
  if (withPayload && item.xml !== '') el.append(parseXml(item.xml));
  return el;
}

/** A submitted form among `parent`'s children, or undefined; bad-request when it is not a form. */
function submittedForm(parent: XmlElement | undefined): DataForm | undefined {
  if (parent === undefined) return undefined;
  try {
    return findForm(parent);
  } catch (e) {
    if (e instanceof DataFormError) throw new StanzaError('bad-request', e.message);
    throw e;
  }
}

/**
 * XEP-0163 Personal Eventing Protocol: every account is a pubsub service
 * (XEP-0060) with nodes created on first publish. Owners publish, retract,
 * configure and delete; contacts retrieve as the node's access model allows
 * (open, presence, whitelist — whitelist is the owner alone, which is what
 * XEP-0223 private storage and XEP-0402 bookmarks ask for).
 *
 * Notifications follow XEP-0163 §4: there are no explicit subscriptions; a
 * resource is notified of node N when the owner shares presence with it and
 * its entity capabilities (XEP-0115) carry `N+notify`. Capabilities are asked
 * once per ver and cached (caps-cache.ts). Each resource's `+notify` set is
 * followed as its presence changes: a node it newly wants (it came online, or
 * its client started listening) gets the node's last item (§4.3.4).
 * The owner's own resources are notified too; one that sent no caps at all is
 * notified of everything (nothing can be filtered for it).
 *
 * What is tracked for remote (federated) contacts — their presence as seen by
 * each local owner — is in memory on the node that received it. Local
 * contacts are read from the session table, so in a cluster any node can
 * notify them.
 *
 * Not here (yet): explicit subscriptions (subscribe/unsubscribe answer
 * feature-not-implemented), roster-group access, XEP-0402 `#compat` mirroring
 * of XEP-0048 private storage, XEP-0398. `pubsub#persist_items` is kept as
 * configured but items are stored either way (the last one is needed for
 * last-published delivery).
 */
export default defineModule({
  name: 'pep',
  implements: 'XEP-0163 (PEP, on XEP-0060), XEP-0223',
  depends: ['roster', 'disco', 'caps'],
  options: {
    maxItemsLimit: { type: 'number', default: 256, integer: true, min: 1, max: 100_000, doc: "Most items one PEP node keeps ('max' in pubsub#max_items means this)." },
    maxNodes: { type: 'number', default: 256, integer: true, min: 1, doc: 'Most PEP nodes one account may have.' },
    maxPayloadBytes: { type: 'number', default: 256 * 1024, integer: true, min: 1024, doc: 'Largest item payload accepted, in bytes of XML.' },
    capsTimeoutMs: { type: 'number', default: 10_000, integer: true, min: 100, doc: "How long to wait for a client's disco#info answer to a caps query." },
  },
  tables: [
    { name: 'pep_nodes', description: 'PEP nodes: pk = owner bare JID, sk = node, value = JSON node configuration.' },
    { name: 'pep_items', description: 'PEP items: pk = owner bare JID, sk = node + U+0000 + publication sequence, value = JSON item (id, payload XML).' },
  ],
  start(ctx) {
    const roster = ctx.use<RosterApi>('roster');
    const disco = ctx.use<DiscoApi>('disco');
    const store = new PepStore(ctx.table('pep_nodes'), ctx.table('pep_items'));
    const limit = ctx.options.maxItemsLimit;
    const caps = new CapsCache(
      (full, node) => {
        const domain = parseJid(full).domain;
        const from = ctx.server.isLocalDomain(domain) ? domain : ctx.server.hosts[0]!;
        return ctx.server.sendIq(x('iq', { type: 'get', from, to: full }, x('query', { xmlns: NS_DISCO_INFO, node })), ctx.options.capsTimeoutMs);
      },
      10_000,
    );
    /** `+notify` nodes of each available resource, as last seen (local sessions: key full JID; remote contacts: "owner full"). */
    const interests = new Map<string, ReadonlySet<string>>();
    /** Available presence of federated contacts, per local owner who received it. */
    const remotePresence = new Map<string, Map<string, XmlElement>>();

    for (const f of FEATURES) ctx.feature(`${NS_PUBSUB}#${f}`, 'account');
    ctx.onStop(disco.addAccountIdentity({ category: 'pubsub', type: 'pep' }));
    ctx.onStop(
      disco.addAccountItems(async (owner, requester) => {
        const out = [];
        for (const { node, config } of await store.allNodes(owner.bare)) {
          if (await mayRead(owner.bare, config, requester.bare)) out.push({ jid: owner.bare, node });
        }
        return out;
      }),
    );

    const fail = (what: string) => (e: unknown) => ctx.log.warn(`pep: ${what} failed`, e);

    /** The node's access model (XEP-0060 §4.5) for a requester's bare JID. */
    async function mayRead(owner: string, config: NodeConfig, requester: string): Promise<boolean> {
      if (requester === owner) return true;
      if (config.accessModel === 'open') return true;
      if (config.accessModel === 'whitelist') return false;
      return subscribedFrom((await roster.store.get(owner, requester))?.subscription);
    }

    function send(owner: string, to: string, items: XmlElement): Promise<void> {
      const msg = x('message', { type: 'headline', from: owner, to, id: `pep-${randomHex(6)}` }, x('event', { xmlns: NS_PUBSUB_EVENT }, items));
      return ctx.server.route(msg).catch(fail(`notification to ${to}`));
    }

    /**
     * XEP-0163 §4.3: sends an event about `node` to every available resource
     * entitled to it whose caps want `node+notify`. Resources whose caps are
     * not known yet are asked, and notified when they answer (not awaited).
     */
    async function broadcast(owner: string, node: string, config: NodeConfig, event: () => XmlElement): Promise<void> {
      const targets: { full: string; presence: XmlElement; self: boolean }[] = [];
      for (const r of await ctx.server.resources(owner)) if (r.presence !== null) targets.push({ full: r.full, presence: r.presence, self: true });
      if (config.accessModel !== 'whitelist') {
        for (const item of await roster.store.all(owner)) {
          if (!subscribedFrom(item.subscription)) continue;
          const contact = parseJid(item.jid);
          if (ctx.server.isLocalDomain(contact.domain)) {
            for (const r of await ctx.server.resources(contact.bare)) if (r.presence !== null) targets.push({ full: r.full, presence: r.presence, self: false });
          } else {
            for (const [full, presence] of remotePresence.get(owner) ?? []) {
              if (parseJid(full).bare === contact.bare) targets.push({ full, presence, self: false });
            }
          }
        }
      }
      const want = node + '+notify';
      for (const t of targets) {
        const ref = capsOf(t.presence);
        if (ref === null) {
          if (t.self) await send(owner, t.full, event());
          continue;
        }
        const known = caps.peek(t.full, ref);
        if (known !== undefined) {
          if (known.has(want)) await send(owner, t.full, event());
          continue;
        }
        void caps.resolve(t.full, ref).then(async (features) => {
          if (features?.has(want)) await send(owner, t.full, event());
        }, fail(`caps query to ${t.full}`));
      }
    }

    /** §4.3.4: the last item of each of `nodes` that `owner` lets `contact` have, sent to that resource. */
    async function sendLast(owner: string, contact: Jid, nodes: Iterable<string>): Promise<void> {
      if (owner !== contact.bare && !subscribedFrom((await roster.store.get(owner, contact.bare))?.subscription)) return;
      for (const node of nodes) {
        const config = await store.getNode(owner, node);
        if (config === undefined || config.sendLastPublishedItem !== 'on_sub_and_presence') continue;
        if (!(await mayRead(owner, config, contact.bare))) continue;
        const last = await store.last(owner, node);
        if (last !== undefined) await send(owner, contact.full, x('items', { node }, itemElement(last, config.deliverPayloads)));
      }
    }

    /**
     * A resource's presence changed: works out which nodes it now wants and
     * sends the last items of the newly wanted ones, from the accounts in
     * `owners` (or, for a local resource, its own account and every local
     * account it is subscribed to).
     */
    async function presenceChanged(key: string, full: Jid, presence: XmlElement | null, owners: string[] | null): Promise<void> {
      if (presence === null) {
        interests.delete(key);
        caps.forget(full.full);
        return;
      }
      const ref: CapsRef | null = capsOf(presence);
      const nodes = ref === null ? new Set<string>() : notifyNodes(await caps.resolve(full.full, ref));
      const before = interests.get(key);
      interests.set(key, nodes);
      const added = [...nodes].filter((n) => !before?.has(n));
      if (added.length === 0) return;
      let accounts = owners;
      if (accounts === null) {
        accounts = [full.bare];
        for (const item of await roster.store.all(full.bare)) {
          if (subscribedTo(item.subscription) && ctx.server.isLocalDomain(parseJid(item.jid).domain)) accounts.push(item.jid);
        }
      }
      for (const owner of accounts) await sendLast(owner, full, added);
    }

    // Local resources: their presence (and caps) is on the session.
    ctx.hook('session/presence', ({ session }) => {
      void presenceChanged(session.jid.full, session.jid, session.presence, null).catch(fail('presence'));
    });
    ctx.hook('session/closed', ({ session }) => {
      interests.delete(session.jid.full);
      caps.forget(session.jid.full);
    });

    // Federated contacts: their presence reaches each local owner's bare JID. Runs before the presence module, which claims it.
    ctx.hook(
      'presence/bare',
      ({ stanza, from, to }) => {
        if (ctx.server.isLocalDomain(from.domain) || from.resource === '') return false;
        const type = stanza.attrs.type;
        if (type !== undefined && type !== 'unavailable') return false;
        const owner = to.bare;
        const seen = remotePresence.get(owner) ?? new Map<string, XmlElement>();
        if (type === 'unavailable') seen.delete(from.full);
        else seen.set(from.full, stanza);
        if (seen.size === 0) remotePresence.delete(owner);
        else remotePresence.set(owner, seen);
        void presenceChanged(`${owner} ${from.full}`, from, type === 'unavailable' ? null : stanza, [owner]).catch(fail('remote presence'));
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
      const owner = ownerOnly(req);
      const node = nodeOf(publishEl);
      const items = publishEl.getChildren('item');
      if (items.length === 0) throw pubsubError('bad-request', 'item-required');
      if (items.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one item per publish');
      const item = items[0]!;
      const payloads = item.elements();
      if (payloads.length === 0) throw pubsubError('bad-request', 'payload-required');
      if (payloads.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one payload element per item');
      const xml = payloads[0]!.toString();
      if (Buffer.byteLength(xml, 'utf8') > ctx.options.maxPayloadBytes) throw pubsubError('not-acceptable', 'payload-too-big');
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
        const stored = await store.publish(owner, node, { id, xml, publisher: req.from.full }, itemLimit(config, limit));
        return { config, stored };
      });
      await broadcast(owner, node, config, () => x('items', { node }, itemElement(stored, config.deliverPayloads)));
      return x('pubsub', { xmlns: NS_PUBSUB }, x('publish', { node }, x('item', { id })));
    }

    async function retract(req: IqRequest, el: XmlElement): Promise<void> {
      const owner = ownerOnly(req);
      const node = nodeOf(el);
      const ids = el.getChildren('item').map((i) => i.attrs.id);
      if (ids.length === 0) throw pubsubError('bad-request', 'item-required');
      if (ids.some((id) => id === undefined || id === '')) throw pubsubError('bad-request', 'item-required');
      const config = await store.withLock(owner, async () => {
        const config = await store.getNode(owner, node);
        if (config === undefined) throw new StanzaError('item-not-found');
        for (const id of ids) if (!(await store.retract(owner, node, id!))) throw new StanzaError('item-not-found', `no item '${id}'`);
        return config;
      });
      const notify = el.attrs.notify === 'true' || el.attrs.notify === '1' || config.notifyRetract;
      if (notify) await broadcast(owner, node, config, () => x('items', { node }, ...ids.map((id) => x('retract', { id }))));
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
      const config = await store.getNode(owner, node);
      if (config === undefined) throw new StanzaError('item-not-found');
      if (!(await mayRead(owner, config, req.from.bare))) {
        // XEP-0060 §6.5.9.5 and §6.5.9.7.
        if (config.accessModel === 'presence') throw pubsubError('not-authorized', 'presence-subscription-required');
        throw pubsubError('not-allowed', 'closed-node');
      }
      const ids = el.getChildren('item').map((i) => i.attrs.id).filter((id): id is string => id !== undefined);
      let list: StoredItem[];
      if (ids.length > 0) {
        const wanted = new Set(ids);
        list = (await store.list(owner, node)).filter((i) => wanted.has(i.id));
        if (list.length === 0) throw new StanzaError('item-not-found');
      } else {
        const max = el.attrs.max_items;
        let n: number | undefined;
        if (max !== undefined) {
          n = Number(max);
          if (!Number.isInteger(n) || n < 1) throw new StanzaError('bad-request', 'max_items must be a positive integer');
        }
        list = await store.list(owner, node, n);
      }
      return x('pubsub', { xmlns: NS_PUBSUB }, x('items', { node }, ...list.map((i) => itemElement(i, true))));
    }

    ctx.iq(
      'set',
      NS_PUBSUB,
      'pubsub',
      async (req) => {
        const pubsub = req.payload;
        const publishEl = pubsub.getChild('publish');
        if (publishEl !== undefined) return publish(req, pubsub, publishEl);
        const retractEl = pubsub.getChild('retract');
        if (retractEl !== undefined) return retract(req, retractEl);
        const createEl = pubsub.getChild('create');
        if (createEl !== undefined) return create(req, pubsub, createEl);
        if (pubsub.getChild('subscribe') !== undefined || pubsub.getChild('unsubscribe') !== undefined) throw unsupported('subscribe');
        if (pubsub.getChild('options') !== undefined) throw unsupported('subscription-options');
        throw new StanzaError('bad-request', 'no pubsub action');
      },
      'account',
    );

    ctx.iq(
      'get',
      NS_PUBSUB,
      'pubsub',
      async (req) => {
        const itemsEl = req.payload.getChild('items');
        if (itemsEl !== undefined) return items(req, itemsEl);
        if (req.payload.getChild('subscriptions') !== undefined) throw unsupported('retrieve-subscriptions');
        if (req.payload.getChild('affiliations') !== undefined) throw unsupported('retrieve-affiliations');
        if (req.payload.getChild('options') !== undefined) throw unsupported('subscription-options');
        throw new StanzaError('bad-request', 'no pubsub request');
      },
      'account',
    );

    // --- pubsub#owner ---------------------------------------------------------

    ctx.iq(
      'get',
      NS_PUBSUB_OWNER,
      'pubsub',
      async (req) => {
        const owner = ownerOnly(req);
        const configure = req.payload.getChild('configure');
        if (configure !== undefined) {
          const node = nodeOf(configure);
          const config = await store.getNode(owner, node);
          if (config === undefined) throw new StanzaError('item-not-found');
          return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('configure', { node }, configForm(config)));
        }
        if (req.payload.getChild('default') !== undefined) return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('default', null, configForm(defaultConfig())));
        if (req.payload.getChild('subscriptions') !== undefined) throw unsupported('manage-subscriptions');
        if (req.payload.getChild('affiliations') !== undefined) throw unsupported('modify-affiliations');
        throw new StanzaError('bad-request', 'no pubsub#owner request');
      },
      'account',
    );

    ctx.iq(
      'set',
      NS_PUBSUB_OWNER,
      'pubsub',
      async (req) => {
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
            const current = await store.getNode(owner, node);
            if (current === undefined) throw new StanzaError('item-not-found');
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
          const config = await store.getNode(owner, node);
          if (config === undefined) throw new StanzaError('item-not-found');
          if (config.notifyDelete) await broadcast(owner, node, config, () => x('delete', { node }));
          await store.withLock(owner, () => store.deleteNode(owner, node));
          return null;
        }
        const purge = req.payload.getChild('purge');
        if (purge !== undefined) {
          const node = nodeOf(purge);
          const config = await store.getNode(owner, node);
          if (config === undefined) throw new StanzaError('item-not-found');
          await store.withLock(owner, () => store.purge(owner, node));
          if (config.notifyRetract) await broadcast(owner, node, config, () => x('purge', { node }));
          return null;
        }
        if (req.payload.getChild('subscriptions') !== undefined) throw unsupported('manage-subscriptions');
        if (req.payload.getChild('affiliations') !== undefined) throw unsupported('modify-affiliations');
        throw new StanzaError('bad-request', 'no pubsub#owner request');
      },
      'account',
    );

    ctx.hook('account/deleted', async ({ jid }) => {
      remotePresence.delete(jid.bare);
      await store.deleteAccount(jid.bare);
    });
  },
});
