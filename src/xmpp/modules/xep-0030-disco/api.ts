import type { Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import type { Identity } from '../../module.js';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

/** One `<item/>` of a disco#items result (XEP-0030 §4.1). */
export interface DiscoItem {
  jid: string;
  name?: string;
  node?: string;
}

/** The content of a disco#info result: identities, features, XEP-0128 forms. */
export interface DiscoInfo {
  identities: Identity[];
  features: string[];
  extensions: XmlElement[];
}

/**
 * Answers disco#info for a node of the server, for this requester; null when it does not know the node.
 * May throw a StanzaError for a node the requester may not see (XEP-0050 §2.2: forbidden for a command not available to it).
 */
export type InfoNodeResolver = (node: string, requester: Jid) => DiscoInfo | null;

/** Answers disco#items requests to the server (`to`, a served domain) carrying a `node` (XEP-0050 command lists…), for this requester; null when it does not know the node. */
export type ItemsNodeResolver = (node: string, requester: Jid, to: Jid) => DiscoItem[] | null | Promise<DiscoItem[] | null>;

/**
 * Answers disco#info or disco#items requests to an account's bare JID carrying
 * a `node` (XEP-0060 §5.3–5.5 for PEP nodes). The resolver decides who may see
 * the node, so the account-wide contacts-only rule does not apply: an open
 * node (an OMEMO key bundle) is readable by anyone. null when the node is
 * unknown or hidden from this requester, which both answer item-not-found.
 */
export type AccountNodeResolver<T> = (owner: Jid, node: string, requester: Jid) => Promise<T | null>;

/**
 * What the disco module offers modules that declare `depends: ['disco']`.
 * Every `add…` returns a function that undoes it: pass it to `ctx.onStop` so
 * the registration goes away with the module that made it.
 */
export interface DiscoApi {
  /** Lists a service (upload, MUC, pubsub component…) in the server's disco#items. */
  addItem(item: DiscoItem): () => void;
  /** Answers disco#info requests to the server carrying a `node` (XEP-0115 caps nodes, ad-hoc commands…). */
  addInfoNode(resolver: InfoNodeResolver): () => void;
  /** Answers disco#items requests to the server carrying a `node`. */
  addItemsNode(resolver: ItemsNodeResolver): () => void;
  /** An identity every account's bare JID shows besides account/registered (e.g. pubsub/pep). */
  addAccountIdentity(identity: Identity): () => void;
  /** Contributes items to an account's disco#items (PEP nodes…); called only for allowed requesters, with who asks. */
  addAccountItems(provider: (owner: Jid, requester: Jid) => Promise<DiscoItem[]>): () => void;
  /** Answers disco#info requests to an account's bare JID carrying a `node`. */
  addAccountInfoNode(resolver: AccountNodeResolver<DiscoInfo>): () => void;
  /** Answers disco#items requests to an account's bare JID carrying a `node`. */
  addAccountItemsNode(resolver: AccountNodeResolver<DiscoItem[]>): () => void;
  /** What the server's disco#info (without node) contains right now, in the order it is sent. */
  serverInfo(): DiscoInfo;
}
