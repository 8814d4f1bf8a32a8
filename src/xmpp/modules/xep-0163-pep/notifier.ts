import { parseJid, type Jid } from '../../../util/jid.js';
import type { Logger } from '../../../util/log.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import type { ServerApi } from '../../module.js';
import { subscribedFrom, subscribedTo, type RosterApi, type RosterItem } from '../rfc6121-roster/index.js';
import { capsOf, NO_NODES, notifyNodes, type CapsCache, type CapsRef } from './caps-cache.js';
import type { NodeConfig } from './config.js';
import { itemElement, NS_PUBSUB_EVENT } from './protocol.js';
import type { PepStore } from './store.js';
import type { PepSubscriptions } from './subscriptions.js';

/** Whether a contact on the owner's roster may read a presence- or roster-access node (XEP-0060 §4.5). */
function contactMayRead(config: NodeConfig, item: Pick<RosterItem, 'subscription' | 'groups'>): boolean {
  if (config.accessModel === 'roster') {
    const allowed = config.rosterGroupsAllowed ?? [];
    return item.groups.some((g) => allowed.includes(g));
  }
  return config.accessModel === 'open' || subscribedFrom(item);
}

/** What the owner's affiliations say of `jid` (XEP-0060 §4.1: a member reads even a whitelist node, an outcast nothing), or undefined: the access model decides. */
function affiliationAllows(config: NodeConfig, jid: string): boolean | undefined {
  const affiliation = config.affiliations?.[jid];
  return affiliation === undefined ? undefined : affiliation === 'member';
}

/** Whether a contact on the owner's roster may read any node, its affiliation first. */
function readsAsContact(config: NodeConfig, item: Pick<RosterItem, 'jid' | 'subscription' | 'groups'>): boolean {
  return affiliationAllows(config, item.jid) ?? (config.accessModel !== 'whitelist' && contactMayRead(config, item));
}

/**
 * Who hears of what (XEP-0163 §4): explicit subscribers (subscriptions.ts),
 * and implicitly a resource is notified of node N when the owner shares presence with it and
 * its entity capabilities (XEP-0115) carry `N+notify`. Each resource's
 * `+notify` set is followed as its presence changes, and a node it newly
 * wants gets the node's last item (§4.3.4). The owner's own resources are
 * notified too; one that sent no caps at all is notified of everything.
 *
 * Remote (federated) contacts' presence, as seen by each local owner, is
 * kept here in memory; local contacts are read from the session table, so
 * in a cluster any node can notify them.
 */
export class PepNotifier {
  /** `+notify` nodes of each available resource, as last seen (local sessions: key full JID; remote contacts: "owner full"). */
  private readonly interests = new Map<string, ReadonlySet<string>>();
  /** Available presence of federated contacts, per local owner who received it. */
  private readonly remotePresence = new Map<string, Map<string, XmlElement>>();

  constructor(
    private readonly server: ServerApi,
    private readonly roster: RosterApi,
    private readonly store: PepStore,
    private readonly subscriptions: PepSubscriptions,
    private readonly caps: CapsCache,
    private readonly log: Logger,
  ) {}

  /** The node's access model (XEP-0060 §4.5) for a requester's bare JID, after its affiliation (§4.1: members read, outcasts do not). */
  async mayRead(owner: string, config: NodeConfig, requester: string): Promise<boolean> {
    if (requester === owner) return true;
    const byAffiliation = affiliationAllows(config, requester);
    if (byAffiliation !== undefined) return byAffiliation;
    if (config.accessModel === 'open') return true;
    if (config.accessModel === 'whitelist') return false;
    const item = await this.roster.store.get(owner, requester);
    return item !== undefined && contactMayRead(config, item);
  }

  /**
   * XEP-0163 §4.3: sends an event about `node` to every available resource
   * entitled to it whose caps want `node+notify`. Resources whose caps are
   * not known yet are asked, and notified when they answer (not awaited).
   */
  async broadcast(owner: string, node: string, config: NodeConfig, event: () => XmlElement): Promise<void> {
    const targets: { full: string; presence: XmlElement; self: boolean }[] = [];
    for (const r of await this.server.resources(owner)) if (r.presence !== null) targets.push({ full: r.full, presence: r.presence, self: true });
    if (config.accessModel !== 'whitelist' || config.affiliations !== undefined) {
      for (const item of await this.roster.store.all(owner)) {
        if (!subscribedFrom(item) || !readsAsContact(config, item)) continue;
        const contact = parseJid(item.jid);
        if (this.server.isLocalDomain(contact.domain)) {
          for (const r of await this.server.resources(contact.bare)) if (r.presence !== null) targets.push({ full: r.full, presence: r.presence, self: false });
        } else {
          for (const [full, presence] of this.remotePresence.get(owner) ?? []) {
            if (parseJid(full).bare === contact.bare) targets.push({ full, presence, self: false });
          }
        }
      }
    }
    const want = node + '+notify';
    /** Full JIDs notified here, and the bare JIDs they belong to. */
    const sent = new Set<string>();
    const notify = async (full: string): Promise<void> => {
      sent.add(full).add(parseJid(full).bare);
      await this.send(owner, full, event());
    };
    for (const t of targets) {
      const ref = capsOf(t.presence);
      if (ref === null) {
        if (t.self) await notify(t.full);
        continue;
      }
      const known = this.caps.peek(t.full, ref);
      if (known !== undefined) {
        if (known.has(want)) await notify(t.full);
        continue;
      }
      void this.caps.resolve(t.full, ref).then(async (features) => {
        if (features?.has(want)) await this.send(owner, t.full, event());
      }, this.fail(`caps query to ${t.full}`));
    }
    // Explicit subscribers (subscriptions.ts), unless notified above already: a
    // full JID once, a bare JID not when one of its resources was. Access is
    // checked again, so one who lost it (a roster change) hears nothing.
    for (const sub of await this.subscriptions.ofNode(owner, node)) {
      if (sent.has(sub.jid)) continue;
      if (await this.mayRead(owner, config, parseJid(sub.jid).bare)) await notify(sub.jid);
    }
  }

  /** XEP-0060 §6.1.7: a new subscriber gets the node's last item at once. */
  async sendLastTo(owner: string, node: string, config: NodeConfig, to: string): Promise<void> {
    if (config.sendLastPublishedItem !== 'never') await this.sendLastItem(owner, node, config, to);
  }

  private async sendLastItem(owner: string, node: string, config: NodeConfig, to: string): Promise<void> {
    const last = await this.store.last(owner, node);
    if (last !== undefined) await this.send(owner, to, x('items', { node }, itemElement(last, config.deliverPayloads)));
  }

  /** A local session's presence changed (null: it went unavailable). */
  localPresence(full: Jid, presence: XmlElement | null): void {
    void this.presenceChanged(full.full, full, presence, null).catch(this.fail('presence'));
  }

  /** A local session ended. */
  sessionClosed(full: Jid): void {
    this.interests.delete(full.full);
    this.caps.forget(full.full);
  }

  /** Available or unavailable presence of a federated contact, received by local account `owner`. */
  remoteContactPresence(owner: string, from: Jid, stanza: XmlElement): void {
    const unavailable = stanza.attrs.type === 'unavailable';
    const seen = this.remotePresence.get(owner) ?? new Map<string, XmlElement>();
    if (unavailable) seen.delete(from.full);
    else seen.set(from.full, stanza);
    if (seen.size === 0) this.remotePresence.delete(owner);
    else this.remotePresence.set(owner, seen);
    void this.presenceChanged(`${owner} ${from.full}`, from, unavailable ? null : stanza, [owner]).catch(this.fail('remote presence'));
  }

  accountDeleted(owner: string): void {
    this.remotePresence.delete(owner);
  }

  private send(owner: string, to: string, items: XmlElement): Promise<void> {
    const msg = x('message', { type: 'headline', from: owner, to, id: `pep-${randomHex(6)}` }, x('event', { xmlns: NS_PUBSUB_EVENT }, items));
    return this.server.route(msg).catch(this.fail(`notification to ${to}`));
  }

  private fail(what: string): (e: unknown) => void {
    return (e) => this.log.warn(`pep: ${what} failed`, e);
  }

  /** §4.3.4: the last item of each of `nodes` that `owner` lets `contact` have, sent to that resource. */
  private async sendLast(owner: string, contact: Jid, nodes: Iterable<string>): Promise<void> {
    if (owner !== contact.bare && !subscribedFrom(await this.roster.store.get(owner, contact.bare))) return;
    for (const node of nodes) {
      const config = await this.store.getNode(owner, node);
      if (config === undefined || config.sendLastPublishedItem !== 'on_sub_and_presence') continue;
      if (await this.mayRead(owner, config, contact.bare)) await this.sendLastItem(owner, node, config, contact.full);
    }
  }

  /**
   * A resource's presence changed: works out which nodes it now wants and
   * sends the last items of the newly wanted ones, from the accounts in
   * `owners` (or, for a local resource, its own account and every local
   * account it is subscribed to).
   */
  private async presenceChanged(key: string, full: Jid, presence: XmlElement | null, owners: string[] | null): Promise<void> {
    if (presence === null) {
      this.interests.delete(key);
      this.caps.forget(full.full);
      return;
    }
    const ref: CapsRef | null = capsOf(presence);
    const nodes = ref === null ? NO_NODES : notifyNodes(await this.caps.resolve(full.full, ref));
    const before = this.interests.get(key);
    this.interests.set(key, nodes);
    const added = [...nodes].filter((n) => !before?.has(n));
    if (added.length === 0) return;
    let accounts = owners;
    if (accounts === null) {
      accounts = [full.bare];
      for (const item of await this.roster.store.all(full.bare)) {
        if (subscribedTo(item) && this.server.isLocalDomain(parseJid(item.jid).domain)) accounts.push(item.jid);
      }
    }
    for (const owner of accounts) await this.sendLast(owner, full, added);
  }
}
