import { getFormType } from '../../../util/data-form.js';
import { tryParseJid, type Jid } from '../../../util/jid.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { configForm, itemLimit, NS_NODE_CONFIG } from '../xep-0163-pep/config.js';
import { MAX_NODE_BYTES, nodeOf, NS_PUBSUB, NS_PUBSUB_OWNER, pubsubError, submittedForm } from '../xep-0163-pep/protocol.js';
import { ACCESS_MODELS, AFFILIATIONS, configured, endUnadmitted, getNode, notifySubscribers, requireOwner, requireRoom, sendEvent, storeNode, tellEnded, type Service, type ServiceAffiliation, type ServiceNode } from './node.js';
import { creatorOf } from './by-jid.js';
import { withNodeLock } from './publishing.js';

/** The service's configuration form (§8.2.1, §8.3): PEP's, without roster groups and with the access models offered here. */
const form = (config: Parameters<typeof configForm>[0]): XmlElement => configForm(config, null, ACCESS_MODELS);

/**
 * §8.1: creates a node, named (§8.1.1) or instant (§8.1.2, the service names
 * it and says so in the result), with the service's defaults or a configure
 * form (§8.1.3). Its creator is its owner.
 */
export async function create(service: Service, from: Jid, pubsub: XmlElement, el: XmlElement): Promise<XmlElement | null> {
  if (!service.mayCreate(from)) throw new StanzaError('forbidden', 'you may not create nodes here');
  const named = el.attrs.node;
  const node = named === undefined || named === '' ? randomHex(12) : named;
  if (Buffer.byteLength(node, 'utf8') > MAX_NODE_BYTES) throw new StanzaError('not-acceptable', `node names are at most ${MAX_NODE_BYTES} bytes`);
  const submitted = submittedForm(pubsub.getChild('configure'));
  if (submitted !== undefined && submitted.type !== 'submit') throw new StanzaError('bad-request', 'submit the configuration form');
  const type = submitted === undefined ? undefined : getFormType(submitted);
  if (type !== undefined && type !== NS_NODE_CONFIG) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS_NODE_CONFIG}`);
  const config = submitted === undefined ? service.defaults : configured(service.defaults, submitted, service.maxItems);
  // The creator's lock around the node's: two creates by one user cannot both pass its cap.
  await withNodeLock(service, `\u0000creator\u0000${from.bare}`, () =>
    withNodeLock(service, node, async () => {
      if ((await service.store.getNode(service.jid, node)) !== undefined) throw new StanzaError('conflict', 'the node exists');
      if (!(await service.nodeCount.reserve(service.jid, service.maxNodes))) throw new StanzaError('resource-constraint', 'the service has as many nodes as it keeps');
      try {
        if (!service.isAdmin(from) && (await createdBy(service, from.bare)) >= service.maxNodesPerCreator) {
          throw new StanzaError('policy-violation', `you have created ${service.maxNodesPerCreator} nodes here, as many as one user may; delete one first`);
        }
        await service.created.added(service.jid, node, from.bare);
        await storeNode(service, node, {}, { config, affiliations: { [from.bare]: 'owner' }, creator: from.bare });
      } catch (e) {
        await service.nodeCount.release(service.jid);
        throw e;
      }
    }),
  );
  return named === undefined || named === '' ? x('pubsub', { xmlns: NS_PUBSUB }, x('create', { node })) : null;
}

/** How many of the service's nodes `bare` created, read through the index by creator (by-jid.ts) and checked against each node row. */
async function createdBy(service: Service, bare: string): Promise<number> {
  let n = 0;
  for (const node of await service.created.nodesOf(service.jid, bare)) {
    const record = await service.store.getNode(service.jid, node);
    if (record !== undefined && creatorOf(record) === bare) n++;
  }
  return n;
}

/** pubsub#owner gets: the configure form (§8.2.1), the default form (§8.3), subscriptions (§8.8.1) and affiliations (§8.9.1). */
export async function ownerGet(service: Service, from: Jid, payload: XmlElement): Promise<XmlElement> {
  if (payload.getChild('default') !== undefined) return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('default', null, form(service.defaults)));
  const el = payload.getChild('configure') ?? payload.getChild('subscriptions') ?? payload.getChild('affiliations');
  if (el === undefined) throw new StanzaError('bad-request', 'no pubsub#owner request');
  const node = nodeOf(el);
  const record = await getNode(service, node);
  requireOwner(record, from.bare);
  if (el.name === 'configure') return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('configure', { node }, form(record.config)));
  if (el.name === 'subscriptions') {
    const subs = await service.subscriptions.ofNode(service.jid, node);
    return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('subscriptions', { node }, ...subs.map((s) => x('subscription', { jid: s.jid, subscription: 'subscribed', subid: s.subid }))));
  }
  const affiliations = Object.entries(record.affiliations).map(([jid, affiliation]) => x('affiliation', { jid, affiliation }));
  return x('pubsub', { xmlns: NS_PUBSUB_OWNER }, x('affiliations', { node }, ...affiliations));
}

/** pubsub#owner sets: configure (§8.2.3), delete (§8.4), purge (§8.5), subscriptions (§8.8.2), affiliations (§8.9.2). */
export async function ownerSet(service: Service, from: Jid, payload: XmlElement): Promise<null> {
  const el = payload.elements()[0];
  if (el === undefined) throw new StanzaError('bad-request', 'no pubsub#owner request');
  const node = nodeOf(el);
  switch (el.name) {
    case 'configure':
      return configure(service, from, node, el);
    case 'delete':
      return deleteNode(service, from, node);
    case 'purge':
      return purge(service, from, node);
    case 'subscriptions':
      return modifySubscriptions(service, from, node, el);
    case 'affiliations':
      return modifyAffiliations(service, from, node, el);
    default:
      throw new StanzaError('bad-request', 'no pubsub#owner request');
  }
}

async function configure(service: Service, from: Jid, node: string, el: XmlElement): Promise<null> {
  const submitted = submittedForm(el);
  if (submitted === undefined) throw new StanzaError('bad-request', 'a configure set carries a form');
  if (submitted.type === 'cancel') {
    requireOwner(await getNode(service, node), from.bare);
    return null;
  }
  if (submitted.type !== 'submit') throw new StanzaError('bad-request', 'submit the configuration form');
  const type = getFormType(submitted);
  if (type !== undefined && type !== NS_NODE_CONFIG) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS_NODE_CONFIG}`);
  const ended = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    requireOwner(record, from.bare);
    const config = configured(record.config, submitted, service.maxItems);
    await service.store.putNode(service.jid, node, { ...record, config });
    // A node made transient keeps nothing; one that keeps fewer items drops its oldest.
    if (!config.persistItems) await service.store.purge(service.jid, node);
    else if (itemLimit(config, service.maxItems) < itemLimit(record.config, service.maxItems)) await service.store.trim(service.jid, node, itemLimit(config, service.maxItems));
    return endUnadmitted(service, node, { ...record, config });
  });
  await tellEnded(service, ended);
  return null;
}

/** §8.4: an owner deletes a node. */
async function deleteNode(service: Service, from: Jid, node: string): Promise<null> {
  await removeNode(service, node, (record) => {
    requireOwner(record, from.bare);
    return true;
  });
  return null;
}

/**
 * Deletes the nodes a deleted account was the only owner of: nobody could
 * configure, purge or delete them any more, and they would hold their names
 * and a share of maxNodes for ever (ejabberd deletes a removed user's nodes
 * too). Nodes with other owners stay theirs.
 */
export async function deleteOrphans(service: Service, bare: string): Promise<void> {
  const soleOwner = (record: ServiceNode): boolean => {
    const owners = Object.keys(record.affiliations).filter((jid) => record.affiliations[jid] === 'owner');
    return owners.length === 1 && owners[0] === bare;
  };
  // Only the nodes `bare` is affiliated with (by-jid.ts); removeNode reads each row again under its lock.
  for (const node of await service.affiliated.nodesOf(service.jid, bare)) {
    const record = await service.store.getNode(service.jid, node);
    if (record !== undefined && soleOwner(record)) await removeNode(service, node, soleOwner);
  }
}

/** §8.4: the node, its items and subscriptions go, if `may` allows; its subscribers are told (§8.4.2) when the node says so. */
async function removeNode(service: Service, node: string, may: (record: ServiceNode) => boolean): Promise<void> {
  const removed = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    if (!may(record)) return null;
    const subs = await service.subscriptions.ofNode(service.jid, node);
    await service.store.deleteNode(service.jid, node);
    await service.nodeCount.release(service.jid);
    await service.affiliated.removing(service.jid, node, record.affiliations, {});
    const creator = creatorOf(record);
    if (creator !== undefined) await service.created.removed(service.jid, node, creator);
    await service.subscriptions.deleteNode(service.jid, node);
    return { record, subs };
  });
  if (removed?.record.config.notifyDelete === true) for (const s of removed.subs) await sendEvent(service, s.jid, x('delete', { node }));
}

/** §8.5: every item goes; subscribers get a purge notification when the node notifies retractions. */
async function purge(service: Service, from: Jid, node: string): Promise<null> {
  const record = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    requireOwner(record, from.bare);
    await service.store.purge(service.jid, node);
    return record;
  });
  if (record.config.notifyRetract) await notifySubscribers(service, node, record, () => x('purge', { node }));
  return null;
}

function validJid(jid: string | undefined): Jid {
  const parsed = tryParseJid(jid ?? '');
  if (parsed === null || jid === '') throw new StanzaError('jid-malformed', `'${jid ?? ''}' is not a JID`);
  return parsed;
}

/** §8.8.2: the owner subscribes entities ('subscribed') or ends their subscriptions ('none'). */
async function modifySubscriptions(service: Service, from: Jid, node: string, el: XmlElement): Promise<null> {
  const changes = el.getChildren('subscription').map((s) => ({ jid: validJid(s.attrs.jid).full, state: s.attrs.subscription }));
  if (changes.some((c) => c.state !== 'none' && c.state !== 'subscribed')) throw new StanzaError('bad-request', "subscription must be 'none' or 'subscribed'");
  await withNodeLock(service, node, async () => {
    requireOwner(await getNode(service, node), from.bare);
    // An owner's subscriptions count as the subscribers' own would: the node's caps bound its fan-out whoever subscribed.
    const ending = new Set(changes.filter((c) => c.state === 'none').map((c) => c.jid));
    const kept = (await service.subscriptions.ofNode(service.jid, node)).filter((s) => !ending.has(s.jid));
    requireRoom(service, kept, changes.filter((c) => c.state === 'subscribed').map((c) => c.jid));
    for (const c of changes) {
      if (c.state === 'none') await service.subscriptions.remove(service.jid, node, c.jid);
      else await service.subscriptions.add(service.jid, node, c.jid);
    }
  });
  return null;
}

/**
 * §8.9.2: changes all the affiliations asked for or none (§8.9.2.4). The node
 * keeps at least one owner, so an owner cannot take the last one away (§8.9.2.3 lets
 * the service refuse such a change with not-acceptable).
 */
async function modifyAffiliations(service: Service, from: Jid, node: string, el: XmlElement): Promise<null> {
  const changes = new Map<string, ServiceAffiliation | 'none' | 'unchanged'>();
  for (const a of el.getChildren('affiliation')) {
    const jid = validJid(a.attrs.jid).bare;
    // §8.9.2.4: one element per entity, or bad-request; §8.9.2.1: one without 'affiliation' changes nothing.
    if (changes.has(jid)) throw new StanzaError('bad-request', `${jid} is named twice`);
    const affiliation = a.attrs.affiliation;
    if (affiliation === undefined) {
      changes.set(jid, 'unchanged');
      continue;
    }
    if (affiliation === 'publish-only') throw pubsubError('feature-not-implemented', 'unsupported', { feature: 'publish-only-affiliation' });
    if (affiliation !== 'none' && !AFFILIATIONS.has(affiliation)) throw new StanzaError('bad-request', `no affiliation '${affiliation}'`);
    changes.set(jid, affiliation as ServiceAffiliation | 'none');
  }
  const ended = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    requireOwner(record, from.bare);
    const affiliations = { ...record.affiliations };
    for (const [jid, affiliation] of changes) {
      if (affiliation === 'unchanged') continue;
      if (affiliation === 'none') delete affiliations[jid];
      else affiliations[jid] = affiliation;
    }
    if (!Object.values(affiliations).includes('owner')) throw new StanzaError('not-acceptable', 'a node keeps at least one owner');
    await storeNode(service, node, record.affiliations, { ...record, affiliations });
    return endUnadmitted(service, node, { ...record, affiliations });
  });
  await tellEnded(service, ended);
  return null;
}
