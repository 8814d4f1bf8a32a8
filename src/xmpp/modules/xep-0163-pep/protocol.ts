import { DataFormError, findForm, type DataForm } from '../../../util/data-form.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError, type StanzaErrorCondition } from '../../errors.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { NodeConfig } from './config.js';
import type { PepStore, StoredItem } from './store.js';

export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';

/** The configuration of an account's node (or a service's node row), or item-not-found for a node that does not exist (XEP-0060 §6.1.3.12 and alike). */
export async function existingNode<C>(store: PepStore<C>, owner: string, node: string): Promise<C> {
  const config = await store.getNode(owner, node);
  if (config === undefined) throw new StanzaError('item-not-found');
  return config;
}

/** A StanzaError carrying a pubsub#errors application condition (XEP-0060 §7.1.3, §6.5.9). */
export function pubsubError(condition: StanzaErrorCondition, app: string, attrs?: Record<string, string>, text?: string): StanzaError {
  return new StanzaError(condition, text, undefined, x(app, { xmlns: NS_PUBSUB_ERRORS, ...attrs }));
}

/** feature-not-implemented with the unsupported feature named (XEP-0060 §7.1.3.x). */
export const unsupported = (feature: string): StanzaError => pubsubError('feature-not-implemented', 'unsupported', { feature });
/** Why a requester who may not read a node is refused (XEP-0060 §6.1.3.2–4 and .8, §6.5.9.5–7 and .11). */
export function readDenied(config: NodeConfig, requester: string): StanzaError {
  if (config.affiliations?.[requester] === 'outcast') return new StanzaError('forbidden', 'blocked by the node owner');
  if (config.accessModel === 'presence') return pubsubError('not-authorized', 'presence-subscription-required');
  if (config.accessModel === 'roster') return pubsubError('not-authorized', 'not-in-roster-group');
  return pubsubError('not-allowed', 'closed-node');
}


/** Longest node name, in bytes of UTF-8: it is part of storage keys (DynamoDB's sort keys hold 1,024 bytes). */
export const MAX_NODE_BYTES = 512;
/** Longest item id, in bytes of UTF-8 (Atom entry ids, URLs and UUIDs fit). */
export const MAX_ITEM_ID_BYTES = 1024;

export function nodeOf(el: XmlElement): string {
  const node = el.attrs.node;
  if (node === undefined || node === '') throw pubsubError('bad-request', 'nodeid-required');
  if (Buffer.byteLength(node, 'utf8') > MAX_NODE_BYTES) throw new StanzaError('not-acceptable', `node names are at most ${MAX_NODE_BYTES} bytes`);
  return node;
}

/** not-acceptable for an item id longer than MAX_ITEM_ID_BYTES. */
export function checkItemId(id: string): void {
  if (Buffer.byteLength(id, 'utf8') > MAX_ITEM_ID_BYTES) throw new StanzaError('not-acceptable', `item ids are at most ${MAX_ITEM_ID_BYTES} bytes`);
}

export function itemElement(item: StoredItem, withPayload: boolean): XmlElement {
  const el = x('item', { id: item.id });
  if (withPayload && item.xml !== '') el.append(parseXml(item.xml));
  return el;
}

/** A submitted form among `parent`'s children, or undefined; bad-request when it is not a form. */
export function submittedForm(parent: XmlElement | undefined): DataForm | undefined {
  if (parent === undefined) return undefined;
  try {
    return findForm(parent);
  } catch (e) {
    if (e instanceof DataFormError) throw new StanzaError('bad-request', e.message);
    throw e;
  }
}
