import { buildForm, formTypeField } from '../../../util/data-form.js';
import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { answerServiceIqs } from '../../service-iq.js';
import type { DiscoApi } from '../xep-0030-disco/api.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER, unsupported } from '../xep-0163-pep/protocol.js';
import { PepStore } from '../xep-0163-pep/store.js';
import { PepSubscriptions } from '../xep-0163-pep/subscriptions.js';
import { AffiliationIndex, CreatorIndex, rebuildIndexes, ServiceSubscriptions } from './by-jid.js';
import { serviceItems } from './disco-items.js';
import { NodeCount } from './node-count.js';
import { mayRead, serviceDefaults, type Service, type ServiceNode } from './node.js';
import { create, deleteOrphans, ownerGet, ownerSet } from './owner.js';
import { ServicePlacement } from './placement.js';
import { publish, retract, retrieveItems, withNodeLock } from './publishing.js';
import { myAffiliations, mySubscriptions, subscribe, unsubscribe } from './subscribers.js';

const NS_META_DATA = 'http://jabber.org/protocol/pubsub#meta-data';

/** XEP-0060 §10 features of what the service answers, and nothing else. */
const FEATURES = [
  'access-open',
  'access-whitelist',
  'config-node',
  'config-node-max',
  'create-and-configure',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'instant-nodes',
  'item-ids',
  'last-published',
  'manage-subscriptions',
  'member-affiliation',
  'meta-data',
  'modify-affiliations',
  'outcast-affiliation',
  'persistent-items',
  'publish',
  'publish-options',
  'publisher-affiliation',
  'purge-nodes',
  'retract-items',
  'retrieve-affiliations',
  'retrieve-default',
  'retrieve-items',
  'retrieve-subscriptions',
  'subscribe',
];

/**
 * XEP-0060 Publish-Subscribe: a generic pubsub service on `pubsub.<domain>`
 * (as ejabberd's and Prosody's mod_pubsub), beside PEP's service at every
 * account (xep-0163-pep). Feeds, bots and devices create leaf nodes there,
 * publish to them, and anyone the node's access model admits subscribes and
 * reads, users of other servers too (the service domain is served over s2s,
 * as MUC's is). The creator owns a node and names its publishers, members
 * (who read a whitelist node) and outcasts (who read nothing).
 *
 * It is PEP's machinery with another partition: the same node configuration
 * and form (config.ts), protocol helpers (protocol.ts), item and
 * subscription stores, keyed by the service JID instead of an account. What
 * differs is here: the node row also holds its affiliations (node.ts), only
 * explicit subscribers are notified (no presence, no caps), access models are
 * open and whitelist (presence and roster need an owner's roster: refused with
 * feature-not-implemented), transient nodes keep no items, and a full node
 * drops its oldest item. Not here: collection nodes, subscription options,
 * pending subscriptions (authorize), auto-create.
 *
 * Several cluster nodes: every change (an iq set) to a service runs on one
 * node, as a MUC room does, and the others hand it over (placement.ts); reads
 * are answered by any node from the shared tables. So nothing is stored
 * twice or lost to a race, and each notification is sent once. A deleted
 * account's clean-up is handed over the same way.
 *
 * A user's own subscriptions and affiliations (§5.6, §5.7), an account's
 * deletion and the maxNodesPerCreator count read indexes by JID (by-jid.ts),
 * not the service's partition, which a remote user could otherwise have had
 * read whole on every request. disco#items on the service reads one page
 * of nodes at a time (disco-items.ts, XEP-0059).
 */
export default defineModule({
  name: 'pubsub',
  implements: 'XEP-0060',
  depends: ['disco'],
  // Started first when loaded, so that a component or MUC service already at `pubsub.<domain>` keeps it.
  optionalDepends: ['components', 'muc'],
  options: {
    jid: { type: 'optional-string', doc: 'Service JID; default `pubsub.<domain>` for every served domain.' },
    name: { type: 'string', default: 'Publish-Subscribe', doc: 'Name of the service in disco.' },
    creation: { type: 'string', default: 'local', enum: ['anyone', 'local', 'admins'] as const, doc: "Who may create nodes: 'local' accounts, 'admins' (server.admins) or 'anyone'." },
    defaultMaxItems: { type: 'number', default: 10, integer: true, min: 1, doc: 'Items a new node keeps unless its creator asks otherwise (pubsub#max_items).' },
    maxItemsLimit: { type: 'number', default: 1000, integer: true, min: 1, max: 100_000, doc: "Most items one node keeps ('max' in pubsub#max_items, or any larger number, means this); a full node drops its oldest item for a new one." },
    maxNodes: { type: 'number', default: 10_000, integer: true, min: 1, doc: 'Most nodes the service keeps (per served domain).' },
    maxNodesPerCreator: { type: 'number', default: 100, integer: true, min: 1, doc: "Most nodes one account may have created and not yet deleted (server admins excepted), so that one user cannot take all of maxNodes; neither ejabberd nor Prosody has such a cap, only who may create." },
    maxSubscriptionsPerNode: { type: 'number', default: 10_000, integer: true, min: 1, doc: "Most subscriptions one node keeps (as ejabberd's max_subscriptions_node); one bare JID holds at most 16 of them (its resources)." },
    maxPayloadBytes: { type: 'number', default: 256 * 1024, integer: true, min: 1024, doc: 'Largest item payload accepted, in bytes of XML.' },
  },
  tables: [
    { name: 'pubsub_nodes', description: 'XEP-0060 service nodes: pk = service JID, sk = node, value = JSON {config, affiliations}.' },
    { name: 'pubsub_items', description: 'XEP-0060 service items: pk = service JID, sk = node + U+0000 + publication sequence, value = JSON item (id, payload XML, publisher).' },
    { name: 'pubsub_subscriptions', description: 'XEP-0060 service subscriptions: pk = service JID, sk = node + U+0000 + subscriber JID, value = JSON {node, jid, subid}.' },
    { name: 'pubsub_subscribers', description: "XEP-0060 service subscriptions by subscriber: pk = subscriber bare JID, sk = service JID + U+0000 + node + U+0000 + subscriber JID, value empty; and pk = U+0000 'built', sk = service JID once the service's rows are indexed." },
    { name: 'pubsub_affiliated', description: 'XEP-0060 service affiliations by bare JID: pk = bare JID, sk = service JID + U+0000 + node, value empty (the affiliation is in the node row).' },
    { name: 'pubsub_created', description: "XEP-0060 service nodes by creator, counted against maxNodesPerCreator: pk = creator bare JID, sk = service JID + U+0000 + node, value empty; and pk = U+0000 'count', sk = service JID, value = the service's number of nodes, counted against maxNodes." },
  ],
  async start(ctx) {
    const opts = ctx.options;
    const server = ctx.server;
    const disco = ctx.use<DiscoApi>('disco');
    const store = new PepStore<ServiceNode>(ctx.table('pubsub_nodes'), ctx.table('pubsub_items'));
    const byNode = new PepSubscriptions(ctx.table('pubsub_subscriptions'));
    const subscriptions = new ServiceSubscriptions(byNode, ctx.table('pubsub_subscribers'));
    const affiliated = new AffiliationIndex(ctx.table('pubsub_affiliated'));
    const created = new CreatorIndex(ctx.table('pubsub_created'));
    const nodeCount = new NodeCount(ctx.table('pubsub_created'));
    const defaults = serviceDefaults(Math.min(opts.defaultMaxItems, opts.maxItemsLimit));
    const isAdmin = (from: Jid): boolean => from.local !== '' && server.isLocalDomain(from.domain) && server.accounts.isAdmin(from.toBare());
    const mayCreate = (from: Jid): boolean => {
      if (opts.creation === 'anyone') return true;
      if (opts.creation === 'admins') return server.accounts.isAdmin(from.toBare());
      return from.local !== '' && server.isLocalDomain(from.domain);
    };

    /** Service domain → the served domain it belongs to, and the service itself. */
    const hosts = new Map<string, string>();
    const services = new Map<string, Service>();
    for (const host of server.hosts) {
      const jid = opts.jid ?? `pubsub.${host}`;
      hosts.set(jid, host);
      services.set(jid, { jid, store, subscriptions, affiliated, created, nodeCount, server, log: ctx.log, maxItems: opts.maxItemsLimit, maxNodes: opts.maxNodes, maxNodesPerCreator: opts.maxNodesPerCreator, maxSubscriptionsPerNode: opts.maxSubscriptionsPerNode, maxPayloadBytes: opts.maxPayloadBytes, defaults, mayCreate, isAdmin });
    }
    const serviceOf = (jid: Jid): Service => services.get(jid.domain)!;
    for (const jid of services.keys()) {
      const rows = await rebuildIndexes(jid, store, byNode, { subscribers: ctx.table('pubsub_subscribers'), affiliated: ctx.table('pubsub_affiliated'), created: ctx.table('pubsub_created') });
      if (rows > 0) ctx.log.info(`pubsub: indexed the subscriptions, affiliations and creators of ${jid} by JID, once (${rows} rows)`);
      const counted = await nodeCount.rebuild(jid, store);
      if (counted !== null && counted > 0) ctx.log.info(`pubsub: counted the ${counted} nodes of ${jid} for maxNodes, once`);
    }

    /** A node `from` may see, or null: disco hides a whitelist node from those it does not admit, as a missing one. */
    async function visible(service: Service, node: string, from: Jid): Promise<ServiceNode | null> {
      const record = await store.getNode(service.jid, node);
      return record !== undefined && mayRead(record, from.bare) ? record : null;
    }

    // In a cluster, changes run on the node that runs the service (placement.ts).
    const placement = server.clustered ? new ServicePlacement(server, ctx.log, handle, accountDeleted) : null;
    if (placement !== null) {
      ctx.onStop(placement.listen());
      ctx.onStop(placement.listenAccounts());
      ctx.hook('cluster/leaving', () => placement.leave(services.keys()));
    }

    const answered = answerServiceIqs(
      ctx,
      hosts,
      {
        identity: { category: 'pubsub', type: 'service', name: opts.name },
        features: [NS_PUBSUB, ...FEATURES.map((f) => `${NS_PUBSUB}#${f}`)],
        nodes: {
          async items(to, from, node, query) {
            const service = serviceOf(to);
            if (node === undefined) return serviceItems(service, from, query);
            if ((await visible(service, node, from)) === null) return null;
            return (await store.list(service.jid, node)).map((i) => x('item', { jid: service.jid, name: i.id }));
          },
          async info(to, from, node) {
            const service = serviceOf(to);
            const record = await visible(service, node, from);
            if (record === null) return null;
            const owners = Object.entries(record.affiliations).filter(([, a]) => a === 'owner').map(([jid]) => jid);
            // §5.4: a leaf, with its meta-data (XEP-0060 §16.4.5) for clients that show what a node is.
            const meta = buildForm({
              type: 'result',
              fields: [
                formTypeField(NS_META_DATA),
                { var: 'pubsub#type', values: ['leaf'] },
                { var: 'pubsub#title', values: [record.config.title] },
                { var: 'pubsub#access_model', values: [record.config.accessModel] },
                { var: 'pubsub#owner', type: 'jid-multi', values: owners },
              ],
            });
            return [x('identity', { category: 'pubsub', type: 'leaf' }), x('feature', { var: NS_PUBSUB }), meta];
          },
        },
      },
      (ev) => (placement !== null && ev.stanza.attrs.type === 'set' ? placement.run(ev) : handle(ev)),
      // Other servers' users subscribe and read too (creating stays `creation`'s to allow).
      { federated: true },
    );
    for (const jid of answered) ctx.onStop(disco.addItem({ jid, name: opts.name }));


    // A deleted account hears nothing more: its subscriptions go, and so do the nodes it alone owned. Its other
    // affiliations stay, as MUC's and PEP's do, since a name is not given again (server.reuseDeletedNamesAfterDays)
    // while others' data names it. Both are found through the indexes by JID, and in a cluster the clean-up runs
    // where the service runs (placement.ts), under the node locks its changes take.
    ctx.hook('account/deleted', async ({ jid }) => {
      for (const service of services.values()) {
        await (placement === null ? accountDeleted(service.jid, jid.bare) : placement.accountDeleted(service.jid, jid.bare));
      }
    });

    async function accountDeleted(serviceJid: string, bare: string): Promise<void> {
      const service = services.get(serviceJid);
      if (service === undefined) return;
      await deleteOrphans(service, bare);
      for (const sub of await subscriptions.ofSubscriber(service.jid, bare)) {
        await withNodeLock(service, sub.node, () => subscriptions.remove(service.jid, sub.node, sub.jid));
      }
    }

    async function handle(ev: RouteEvent): Promise<XmlElement | null> {
      const payload = ev.stanza.elements()[0]!;
      const service = serviceOf(ev.to);
      const from = ev.from;
      const set = ev.stanza.attrs.type === 'set';
      if (payload.name !== 'pubsub') throw new StanzaError('service-unavailable');
      if (payload.attrs.xmlns === NS_PUBSUB_OWNER) return set ? ownerSet(service, from, payload) : ownerGet(service, from, payload);
      if (payload.attrs.xmlns !== NS_PUBSUB) throw new StanzaError('service-unavailable');
      if (payload.getChild('options') !== undefined) throw unsupported('subscription-options');
      if (set) {
        const createEl = payload.getChild('create');
        if (createEl !== undefined) return create(service, from, payload, createEl);
        const publishEl = payload.getChild('publish');
        if (publishEl !== undefined) return publish(service, from, payload, publishEl);
        const retractEl = payload.getChild('retract');
        if (retractEl !== undefined) return retract(service, from, retractEl);
        const subscribeEl = payload.getChild('subscribe');
        if (subscribeEl !== undefined) return subscribe(service, from, subscribeEl);
        const unsubscribeEl = payload.getChild('unsubscribe');
        if (unsubscribeEl !== undefined) return unsubscribe(service, from, unsubscribeEl);
        throw new StanzaError('bad-request', 'no pubsub action');
      }
      const itemsEl = payload.getChild('items');
      if (itemsEl !== undefined) return retrieveItems(service, from, itemsEl);
      const subscriptionsEl = payload.getChild('subscriptions');
      if (subscriptionsEl !== undefined) return mySubscriptions(service, from, subscriptionsEl);
      const affiliationsEl = payload.getChild('affiliations');
      if (affiliationsEl !== undefined) return myAffiliations(service, from, affiliationsEl);
      if (payload.getChild('default') !== undefined) throw unsupported('retrieve-default-sub');
      throw new StanzaError('bad-request', 'no pubsub request');
    }
  },
});
