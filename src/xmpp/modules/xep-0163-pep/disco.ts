import type { Jid } from '../../../util/jid.js';
import type { ModuleContext } from '../../module.js';
import type { DiscoApi } from '../xep-0030-disco/index.js';
import { AFFILIATION_FEATURES } from './affiliations.js';
import type { NodeConfig } from './config.js';
import type { PepNotifier } from './notifier.js';
import { NS_PUBSUB } from './protocol.js';
import type { PepStore } from './store.js';

/** XEP-0060 §10 features a PEP account advertises (XEP-0163 §6.1). */
const FEATURES = [
  'access-open',
  'access-presence',
  'access-roster',
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
  'retrieve-subscriptions',
  'manage-subscriptions',
  'subscribe',
  ...AFFILIATION_FEATURES,
];

/**
 * The part of FEATURES the domain shows too: what a PEP node can be and how
 * publishing to one's own account behaves, which is what clients that read
 * the domain decide on. Requests that manage nodes (create-nodes,
 * purge-nodes, config-node, affiliations…) are answered only at an account's
 * bare JID; shown on the domain they make generic XEP-0060 clients (aioxmpp's
 * e2e provisioner) take the domain for a pubsub service, whose every request
 * then fails with service-unavailable.
 */
const DOMAIN_FEATURES: ReadonlySet<string> = new Set([
  'access-open',
  'access-presence',
  'access-roster',
  'access-whitelist',
  'auto-create',
  'auto-subscribe',
  'config-node-max',
  'filtered-notifications',
  'item-ids',
  'last-published',
  'multi-items',
  'persistent-items',
  'publish',
  'publish-options',
]);

/**
 * What disco says of PEP: the features and identity of every account (and,
 * in part, of the server's domain), each account's nodes as its items, and
 * each node's own info (a leaf) and items. A node the requester may not read by its
 * access model is not shown at all.
 */
export function advertise(ctx: ModuleContext, disco: DiscoApi, store: PepStore, notifier: PepNotifier): void {
  // XEP-0163 §6.1 has clients ask their bare JID. Before 1.2 they asked the
  // server's domain, and some still do (Smack decides OMEMO and OX support
  // there), so the domain shows pubsub/pep and DOMAIN_FEATURES too.
  ctx.feature(NS_PUBSUB, 'both');
  for (const f of FEATURES) ctx.feature(`${NS_PUBSUB}#${f}`, DOMAIN_FEATURES.has(f) ? 'both' : 'account');
  ctx.identity({ category: 'pubsub', type: 'pep' });
  ctx.onStop(disco.addAccountIdentity({ category: 'pubsub', type: 'pep' }));
  ctx.onStop(
    disco.addAccountItems(async (owner, requester) => {
      const out = [];
      for (const { node, config } of await store.allNodes(owner.bare)) {
        if (await notifier.mayRead(owner.bare, config, requester.bare)) out.push({ jid: owner.bare, node });
      }
      return out;
    }),
  );

  /** A node this requester may read, by its access model (XEP-0163 §6.2); null hides it. */
  async function readableNode(owner: Jid, node: string, requester: Jid): Promise<NodeConfig | null> {
    const config = await store.getNode(owner.bare, node);
    return config !== undefined && (await notifier.mayRead(owner.bare, config, requester.bare)) ? config : null;
  }
  // XEP-0060 §5.4: a PEP node is a leaf; clients (Smack's getLeafNode) ask before fetching items.
  ctx.onStop(
    disco.addAccountInfoNode(async (owner, node, requester) =>
      (await readableNode(owner, node, requester)) === null
        ? null
        : { identities: [{ category: 'pubsub', type: 'leaf' }], features: [NS_PUBSUB], extensions: [] },
    ),
  );
  // XEP-0060 §5.5: a node's items, named by item id.
  ctx.onStop(
    disco.addAccountItemsNode(async (owner, node, requester) =>
      (await readableNode(owner, node, requester)) === null
        ? null
        : (await store.list(owner.bare, node)).filter((i) => i.xml !== '').map((i) => ({ jid: owner.bare, name: i.id })),
    ),
  );
}
