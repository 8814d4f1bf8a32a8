import { tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { Affiliation, NodeConfig } from './config.js';
import { existingNode, nodeOf, NS_PUBSUB, NS_PUBSUB_OWNER, unsupported } from './protocol.js';
import type { PepStore } from './store.js';

/** XEP-0060 §10 features for what this file answers. */
export const AFFILIATION_FEATURES = ['member-affiliation', 'outcast-affiliation', 'modify-affiliations', 'retrieve-affiliations'];

/**
 * Affiliations on a PEP account's nodes (XEP-0060 §8.9, §5.7): the owner
 * lists and changes who else is a member (reads the node whatever its access
 * model, e.g. a whitelist node shared with chosen contacts) or an outcast
 * (never reads it, not even an open node). Publishing stays the owner's, so
 * `publisher` and `publish-only` are refused as unsupported. They are kept
 * in the node's stored configuration, so every read of a node sees them.
 */
export class AffiliationRequests {
  constructor(private readonly store: PepStore) {}

  /** §8.9.1: the node's affiliations, the owner's own included. */
  async ofNode(owner: string, el: XmlElement): Promise<XmlElement> {
    const node = nodeOf(el);
    const config = await existingNode(this.store, owner, node);
    const others = Object.entries(config.affiliations ?? {}).map(([jid, affiliation]) => x('affiliation', { jid, affiliation }));
    return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('affiliations', { node }, x('affiliation', { jid: owner, affiliation: 'owner' }), ...others));
  }

  /** §8.9.2: changes all the affiliations asked for, or none of them. */
  async modify(owner: string, el: XmlElement): Promise<null> {
    const node = nodeOf(el);
    const changes = new Map<string, Affiliation | 'none'>();
    for (const a of el.getChildren('affiliation')) {
      const jid = tryParseJid(a.attrs.jid ?? '');
      if (jid === null) throw new StanzaError('jid-malformed', `'${a.attrs.jid ?? ''}' is not a JID`);
      const affiliation = a.attrs.affiliation;
      if (affiliation === 'publisher' || affiliation === 'publish-only') throw unsupported(`${affiliation}-affiliation`);
      if (affiliation !== 'member' && affiliation !== 'outcast' && affiliation !== 'none' && affiliation !== 'owner') throw new StanzaError('bad-request', `no affiliation '${affiliation ?? ''}'`);
      // The account owns its nodes: it cannot give that up, and nobody else can be given it.
      if ((jid.bare === owner) !== (affiliation === 'owner')) throw new StanzaError('not-acceptable', 'a PEP node has one owner, the account');
      if (affiliation !== 'owner') changes.set(jid.bare, affiliation);
    }
    await this.store.withLock(owner, async () => {
      const config = await existingNode(this.store, owner, node);
      const affiliations: Record<string, Affiliation> = { ...config.affiliations };
      for (const [jid, affiliation] of changes) {
        if (affiliation === 'none') delete affiliations[jid];
        else affiliations[jid] = affiliation;
      }
      const next: NodeConfig = { ...config, affiliations };
      // Without any, the node reads as one that never had them (the notifier skips the roster for whitelist nodes).
      if (Object.keys(affiliations).length === 0) delete next.affiliations;
      await this.store.putNode(owner, node, next);
    });
    return null;
  }

  /** §5.7: the requester's own affiliations with this account's nodes (the owner's: owner of every one). */
  async mine(owner: string, requester: string, el: XmlElement): Promise<XmlElement> {
    const only = el.attrs.node;
    const nodes = only === undefined ? await this.store.allNodes(owner) : [{ node: only, config: await this.store.getNode(owner, only) }];
    const listed: XmlElement[] = [];
    for (const { node, config } of nodes) {
      if (config === undefined) continue;
      const affiliation = requester === owner ? 'owner' : config.affiliations?.[requester];
      if (affiliation !== undefined) listed.push(x('affiliation', { node, affiliation }));
    }
    return x('pubsub', { xmlns: NS_PUBSUB }, x('affiliations', { node: only }, ...listed));
  }
}
