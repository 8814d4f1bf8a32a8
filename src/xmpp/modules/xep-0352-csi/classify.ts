import type { XmlElement } from '../../../util/xml.js';
import { NS_CARBONS, NS_FORWARD } from '../../carbon-copies.js';
import { NS_HINTS } from '../../hints.js';
import { ENCRYPTED_NAMESPACES } from '../../encrypted-payloads.js';

const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
const NS_MARKERS = 'urn:xmpp:chat-markers:0';
const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
/** XEP-0490 Message Displayed Synchronization: the user's own "read up to" in PEP. */
const NODE_MDS = 'urn:xmpp:mds:displayed:0';

/** Payload namespaces that make a message urgent even without a body. */
const URGENT_NS = new Set([
  ...ENCRYPTED_NAMESPACES,
  'urn:xmpp:mam:2', // MAM results, answering the client's own query
  'urn:xmpp:mam:1',
  'urn:xmpp:jingle-message:0', // call invitations
]);

/** Children that carry no content of their own next to a chat state. */
const INCIDENTAL = new Set(['thread', 'origin-id', 'stanza-id']);
const INCIDENTAL_NS = new Set([NS_CHATSTATES, NS_HINTS]);

/** What CSI does with a stanza while the client is inactive. */
export type CsiClass = 'urgent' | 'drop' | 'presence' | 'hold';

function isImportantMessage(msg: XmlElement): boolean {
  if (msg.attrs.type === 'error') return true;
  for (const c of msg.children) {
    if (typeof c === 'string') continue;
    if (c.name === 'body' || c.name === 'subject') return true;
    const ns = c.attrs.xmlns;
    if (ns !== undefined && URGENT_NS.has(ns)) return true;
    // A carbon copy is as urgent as the message it carries; one of a chat marker the user sent from another
    // device is urgent too: that device has shown the chat, and this one clears its notification on it.
    if (ns === NS_CARBONS && (c.name === 'sent' || c.name === 'received')) {
      const inner = c.getChild('forwarded', NS_FORWARD)?.getChild('message');
      if (inner !== undefined && (isImportantMessage(inner) || (c.name === 'sent' && carriesMarker(inner)))) return true;
    }
    // The same news in XEP-0490's PEP node, which Conversations uses instead of markers where the server has PEP.
    if (ns === NS_PUBSUB_EVENT && c.name === 'event' && c.getChild('items')?.attrs.node === NODE_MDS) return true;
  }
  return false;
}

/** A XEP-0333 chat marker (displayed, received, acknowledged), not a request for one. */
function carriesMarker(msg: XmlElement): boolean {
  for (const c of msg.children) if (typeof c !== 'string' && c.name !== 'markable' && c.attrs.xmlns === NS_MARKERS) return true;
  return false;
}

function isChatStateOnly(msg: XmlElement): boolean {
  let state = false;
  for (const c of msg.children) {
    if (typeof c === 'string') continue;
    const ns = c.getNS();
    if (ns === NS_CHATSTATES) state = true;
    else if (!(ns !== undefined && INCIDENTAL_NS.has(ns)) && !INCIDENTAL.has(c.name)) return false;
  }
  return state;
}

/** Classifies an outgoing stanza (no allocation; one pass over the top-level children). */
export function classify(stanza: XmlElement): CsiClass {
  switch (stanza.name) {
    case 'presence': {
      const type = stanza.attrs.type;
      // Availability is deferrable; subscription handling and errors are not.
      return type === undefined || type === 'unavailable' ? 'presence' : 'urgent';
    }
    case 'message':
      if (isImportantMessage(stanza)) return 'urgent';
      return isChatStateOnly(stanza) ? 'drop' : 'hold';
    default:
      return 'urgent';
  }
}
