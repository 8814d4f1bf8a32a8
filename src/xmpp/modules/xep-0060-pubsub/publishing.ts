import { getFormType } from '../../../util/data-form.js';
import { tryParseJid, type Jid } from '../../../util/jid.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { applyForm, ConfigValueError, itemLimit, NS_PUBLISH_OPTIONS, satisfies, type NodeConfig } from '../xep-0163-pep/config.js';
import { checkItemId, itemElement, nodeOf, NS_PUBSUB, pubsubError, submittedForm } from '../xep-0163-pep/protocol.js';
import { requestedItems, type StoredItem } from '../xep-0163-pep/store.js';
import { affiliationOf, getNode, mayRead, notifySubscribers, readRefusal, type Service, type ServiceNode } from './node.js';

/** Serialises the read-modify-write cycles on one node (publish, retract, configure, delete) on this cluster node. */
export function withNodeLock<T>(service: Service, node: string, fn: () => Promise<T>): Promise<T> {
  return service.store.withLock(`${service.jid}\u0000${node}`, fn);
}

/** §7.1.3.1: owners and publishers publish and retract. */
function requirePublisher(record: ServiceNode, bare: string): void {
  const affiliation = affiliationOf(record, bare);
  if (affiliation !== 'owner' && affiliation !== 'publisher') throw new StanzaError('forbidden', 'only owners and publishers of the node publish to it');
}

/**
 * §4.1 (note to the privileges table): a publisher removes only the items it
 * published; an owner removes any. Republishing under another's item id
 * replaces that item, so the same rule holds there, or a publisher could
 * erase a co-publisher's item by overwriting it.
 */
function requireOwnItems(record: ServiceNode, bare: string, items: readonly StoredItem[]): void {
  if (affiliationOf(record, bare) === 'owner') return;
  const others = items.find((i) => tryParseJid(i.publisher)?.bare !== bare);
  if (others !== undefined) throw new StanzaError('forbidden', `item '${others.id}' was published by someone else`);
}

/** §7.1.5: publish-options are preconditions on the node's configuration; one the node does not meet fails the publish. */
function preconditions(pubsub: XmlElement, limit: number): { config: NodeConfig; fields: string[] } | null {
  const options = submittedForm(pubsub.getChild('publish-options'));
  if (options === undefined) return null;
  const type = getFormType(options);
  if (type !== undefined && type !== NS_PUBLISH_OPTIONS) throw new StanzaError('bad-request', `publish-options FORM_TYPE must be ${NS_PUBLISH_OPTIONS}`);
  try {
    // Only the fields named are compared, so the base they are applied to does not matter.
    return applyForm({ accessModel: 'open', maxItems: 1, persistItems: true, deliverPayloads: true, notifyRetract: true, notifyDelete: true, sendLastPublishedItem: 'never', title: '' }, options, limit);
  } catch (e) {
    if (e instanceof ConfigValueError) throw pubsubError('conflict', 'precondition-not-met', undefined, e.message);
    throw e;
  }
}

/**
 * §7.1: publishes to an existing node. What an item must carry follows the
 * node's event type (§7.1.3.6): a notification-only transient node takes no
 * item (its subscribers get an empty `<items/>`), every other node an item,
 * with a payload when payloads are delivered. A transient node keeps nothing;
 * a persistent one keeps its newest max_items.
 */
export async function publish(service: Service, from: Jid, pubsub: XmlElement, el: XmlElement): Promise<XmlElement> {
  const node = nodeOf(el);
  const items = el.getChildren('item');
  if (items.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one item per publish');
  const item = items[0];
  const payloads = item?.elements() ?? [];
  if (payloads.length > 1) throw pubsubError('bad-request', 'invalid-payload', undefined, 'one payload element per item');
  const xml = payloads[0]?.toString() ?? '';
  if (item?.attrs.id !== undefined) checkItemId(item.attrs.id);
  if (Buffer.byteLength(xml, 'utf8') > service.maxPayloadBytes) throw pubsubError('not-acceptable', 'payload-too-big');
  const wanted = preconditions(pubsub, service.maxItems);
  const { record, stored } = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    requirePublisher(record, from.bare);
    if (wanted !== null && !satisfies(record.config, wanted.config, wanted.fields)) throw pubsubError('conflict', 'precondition-not-met', undefined, 'the node has a different configuration');
    const { persistItems, deliverPayloads } = record.config;
    if (!persistItems && !deliverPayloads) {
      if (item !== undefined) throw pubsubError('bad-request', 'item-forbidden', undefined, 'a transient notification-only node takes no item');
      return { record, stored: null };
    }
    if (item === undefined) throw pubsubError('bad-request', 'item-required');
    if (deliverPayloads && payloads.length === 0) throw pubsubError('bad-request', 'payload-required');
    const entry = { id: item.attrs.id || randomHex(12), xml, publisher: from.full };
    if (item.attrs.id) requireOwnItems(record, from.bare, (await service.store.list(service.jid, node)).filter((i) => i.id === entry.id));
    if (!persistItems) return { record, stored: { ...entry, seq: '' } };
    const stored = await service.store.publish(service.jid, node, entry, itemLimit(record.config, service.maxItems));
    return { record, stored: stored ?? { ...entry, seq: '' } };
  });
  await notifySubscribers(service, node, record, () => x('items', { node }, stored === null ? undefined : itemElement(stored, record.config.deliverPayloads)));
  return x('pubsub', { xmlns: NS_PUBSUB }, x('publish', { node }, stored === null ? undefined : x('item', { id: stored.id })));
}

/** §7.2: owners retract any items, publishers their own, all named or none; subscribers hear of it when the node or the request says so. */
export async function retract(service: Service, from: Jid, el: XmlElement): Promise<null> {
  const node = nodeOf(el);
  const ids = el.getChildren('item').map((i) => i.attrs.id ?? '');
  if (ids.length === 0 || ids.includes('')) throw pubsubError('bad-request', 'item-required');
  const record = await withNodeLock(service, node, async () => {
    const record = await getNode(service, node);
    requirePublisher(record, from.bare);
    const all = await service.store.list(service.jid, node);
    const present = new Set(all.map((i) => i.id));
    const missing = ids.find((id) => !present.has(id));
    if (missing !== undefined) throw new StanzaError('item-not-found', `no item '${missing}'`);
    requireOwnItems(record, from.bare, all.filter((i) => ids.includes(i.id)));
    for (const id of ids) await service.store.retract(service.jid, node, id);
    return record;
  });
  const notify = el.attrs.notify === 'true' || el.attrs.notify === '1' || record.config.notifyRetract;
  if (notify) await notifySubscribers(service, node, record, () => x('items', { node }, ...ids.map((id) => x('retract', { id }))));
  return null;
}

/** §6.5: a node's items, for those its access model lets read: all, the newest max_items (§6.5.7), or by id (§6.5.8). */
export async function retrieveItems(service: Service, from: Jid, el: XmlElement): Promise<XmlElement> {
  const node = nodeOf(el);
  const record = await getNode(service, node);
  if (!mayRead(record, from.bare)) throw readRefusal(record, from.bare);
  const list = await requestedItems(service.store, service.jid, node, el);
  return x('pubsub', { xmlns: NS_PUBSUB }, x('items', { node }, ...list.map((i) => itemElement(i, true))));
}
