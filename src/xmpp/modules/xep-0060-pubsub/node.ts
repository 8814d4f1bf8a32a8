import { parseJid, tryParseJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { randomHex } from '../../../util/random-token.js';
import type { Logger } from '../../../util/log.js';
import { StanzaError } from '../../errors.js';
import type { ServerApi } from '../../module.js';
import { applyForm, ConfigValueError, defaultConfig, type AccessModel, type NodeConfig } from '../xep-0163-pep/config.js';
import { existingNode, NS_PUBSUB_ERRORS, NS_PUBSUB_EVENT, pubsubError, unsupported } from '../xep-0163-pep/protocol.js';
import type { PepStore } from '../xep-0163-pep/store.js';
import type { Subscription } from '../xep-0163-pep/subscriptions.js';
import type { DataForm } from '../../../util/data-form.js';
import type { AffiliationIndex, CreatorIndex, ServiceSubscriptions } from './by-jid.js';
import type { NodeCount } from './node-count.js';

/** XEP-0060 §4.1 affiliations a node of the service gives a bare JID ('none' is the absence of one). */
export type ServiceAffiliation = 'owner' | 'publisher' | 'member' | 'outcast';
export const AFFILIATIONS: ReadonlySet<string> = new Set<ServiceAffiliation>(['owner', 'publisher', 'member', 'outcast']);

/** The access models a node of the service may have; presence and roster need an owner's roster, which a service node has not. */
export const ACCESS_MODELS: readonly AccessModel[] = ['open', 'whitelist'];

/** What the service keeps per node (a row of `pubsub_nodes`): PEP's configuration, and who is affiliated how. */
export interface ServiceNode {
  config: NodeConfig;
  /** By bare JID; the creator is the first owner. */
  affiliations: Record<string, ServiceAffiliation>;
  /** Bare JID of who created the node, counted against its maxNodesPerCreator (absent in rows stored before it existed). */
  creator?: string;
}

/** Most subscriptions one bare JID holds to one node: its resources, not an amplifier for every publish. */
export const MAX_SUBSCRIPTIONS_PER_JID = 16;

/** Everything the request handlers share: the service's JID (its partition in the tables), its stores and limits. */
export interface Service {
  readonly jid: string;
  readonly store: PepStore<ServiceNode>;
  /** Subscriptions, with their index by subscriber (by-jid.ts). */
  readonly subscriptions: ServiceSubscriptions;
  /** Which nodes each bare JID is affiliated with (by-jid.ts); keep it with `storeNode`. */
  readonly affiliated: AffiliationIndex;
  /** Which nodes each account created (by-jid.ts), for maxNodesPerCreator. */
  readonly created: CreatorIndex;
  /** How many nodes the service holds (node-count.ts), for maxNodes. */
  readonly nodeCount: NodeCount;
  readonly server: ServerApi;
  readonly log: Logger;
  readonly maxItems: number;
  readonly maxNodes: number;
  readonly maxNodesPerCreator: number;
  readonly maxSubscriptionsPerNode: number;
  readonly maxPayloadBytes: number;
  readonly defaults: NodeConfig;
  /** Whether `from` may create nodes here. */
  mayCreate(from: Jid): boolean;
  /** Whether `from` is one of the server's admins, whom the per-creator cap does not bind. */
  isAdmin(from: Jid): boolean;
}

/** XEP-0060 §16.4.3 defaults for a new node of the service, before the operator's `defaultMaxItems`. */
export function serviceDefaults(maxItems: number): NodeConfig {
  // Open, several items, and no last item on subscription: a feed, not PEP's "latest state" node.
  return { ...defaultConfig(), accessModel: 'open', maxItems, sendLastPublishedItem: 'never' };
}

/** A node row, or item-not-found. */
export function getNode(service: Service, node: string): Promise<ServiceNode> {
  return existingNode(service.store, service.jid, node);
}

/** Stores a node row whose affiliations were `before` (none for a new node), with the index of affiliated JIDs. */
export async function storeNode(service: Service, node: string, before: Readonly<Record<string, string>>, record: ServiceNode): Promise<void> {
  await service.affiliated.adding(service.jid, node, before, record.affiliations);
  await service.store.putNode(service.jid, node, record);
  await service.affiliated.removing(service.jid, node, before, record.affiliations);
}

export function affiliationOf(record: ServiceNode, bare: string): ServiceAffiliation | 'none' {
  return record.affiliations[bare] ?? 'none';
}

/** §8: owner-only requests; forbidden for anyone else. */
export function requireOwner(record: ServiceNode, bare: string): void {
  if (affiliationOf(record, bare) !== 'owner') throw new StanzaError('forbidden', 'only an owner of the node may do this');
}

/** §4.1 and §4.5: whether `bare` may subscribe and retrieve items. */
export function mayRead(record: ServiceNode, bare: string): boolean {
  const affiliation = affiliationOf(record, bare);
  if (affiliation === 'outcast') return false;
  if (affiliation !== 'none') return true;
  return record.config.accessModel === 'open';
}

/** Why `bare` may not read (§6.1.3.5, §6.1.3.4: an outcast is forbidden, others find a whitelist node closed). */
export function readRefusal(record: ServiceNode, bare: string): StanzaError {
  if (affiliationOf(record, bare) === 'outcast') return new StanzaError('forbidden', 'blocked by the node owner');
  return pubsubError('not-allowed', 'closed-node');
}

/**
 * Applies a configure form (create-and-configure §8.1.3, configure §8.2.3) to
 * `base`. A bad value is not-acceptable; an access model the service lacks is
 * feature-not-implemented with the model named (`unsupported feature='access-presence'`).
 */
export function configured(base: NodeConfig, form: DataForm, limit: number): NodeConfig {
  let config: NodeConfig;
  try {
    config = applyForm(base, form, limit).config;
  } catch (e) {
    if (e instanceof ConfigValueError) {
      if (e.field === 'pubsub#access_model') throw unsupported('access-' + (form.fields.find((f) => f.var === e.field)?.values[0] ?? ''));
      throw new StanzaError('not-acceptable', e.message);
    }
    throw e;
  }
  if (!ACCESS_MODELS.includes(config.accessModel)) throw unsupported(`access-${config.accessModel}`);
  return config;
}

/** A headline notification from the service (§7.1.2.1, §8.4.1, §8.5.1) to one subscriber. */
export function sendEvent(service: Service, to: string, event: XmlElement): Promise<void> {
  const msg = x('message', { type: 'headline', from: service.jid, to, id: `pubsub-${randomHex(6)}` }, x('event', { xmlns: NS_PUBSUB_EVENT }, event));
  return service.server.route(msg).catch((e: unknown) => service.log.warn(`pubsub: notification to ${to} failed`, e));
}

/**
 * Notifies every subscriber of `node` who may still read it (an outcast or
 * someone taken off a whitelist hears nothing), each subscription once.
 */
export async function notifySubscribers(service: Service, node: string, record: ServiceNode, event: () => XmlElement): Promise<void> {
  for (const sub of await service.subscriptions.ofNode(service.jid, node)) {
    if (mayRead(record, parseJid(sub.jid).bare)) await sendEvent(service, sub.jid, event());
  }
}

/**
 * Ends the subscriptions of those the node no longer admits (an owner made
 * them outcasts, took them off a whitelist, or closed the node): an outcast
 * may not be subscribed (§4.1), and a subscription nobody is notified of would
 * still be listed and come back to life when the node opens again. Call under
 * the node's lock; returns the subscriptions ended, to tell with `tellEnded`.
 */
export async function endUnadmitted(service: Service, node: string, record: ServiceNode): Promise<Subscription[]> {
  const ended: Subscription[] = [];
  for (const sub of await service.subscriptions.ofNode(service.jid, node)) {
    if (mayRead(record, tryParseJid(sub.jid)?.bare ?? '')) continue;
    await service.subscriptions.remove(service.jid, node, sub.jid);
    ended.push(sub);
  }
  return ended;
}

/** §8.8.4: tells each former subscriber that its subscription ended. */
export async function tellEnded(service: Service, ended: readonly Subscription[]): Promise<void> {
  for (const s of ended) await sendEvent(service, s.jid, x('subscription', { node: s.node, jid: s.jid, subscription: 'none', subid: s.subid }));
}

/**
 * Throws §6.1.3.9's too-many-subscriptions unless the node has room for
 * subscriptions of `adding` (JIDs, some perhaps subscribed already) beside
 * `subs`: maxSubscriptionsPerNode in all, MAX_SUBSCRIPTIONS_PER_JID per bare JID.
 */
export function requireRoom(service: Service, subs: readonly Subscription[], adding: readonly string[]): void {
  const jids = new Set(subs.map((s) => s.jid));
  const perBare = new Map<string, number>();
  for (const jid of jids) {
    const bare = tryParseJid(jid)?.bare ?? jid;
    perBare.set(bare, (perBare.get(bare) ?? 0) + 1);
  }
  for (const jid of adding) {
    if (jids.has(jid)) continue;
    const bare = tryParseJid(jid)?.bare ?? jid;
    const own = perBare.get(bare) ?? 0;
    if (own >= MAX_SUBSCRIPTIONS_PER_JID || jids.size >= service.maxSubscriptionsPerNode) {
      throw new StanzaError('policy-violation', 'too many subscriptions', 'wait', x('too-many-subscriptions', { xmlns: NS_PUBSUB_ERRORS }));
    }
    jids.add(jid);
    perBare.set(bare, own + 1);
  }
}
