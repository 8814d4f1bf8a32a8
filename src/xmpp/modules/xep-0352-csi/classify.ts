import type { XmlElement } from '../../../util/xml.js';

const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_HINTS = 'urn:xmpp:hints';

/** Payload namespaces that make a message urgent even without a body. */
const URGENT_NS = new Set([
  'eu.siacs.conversations.axolotl', // OMEMO (legacy)
  'urn:xmpp:omemo:2', // OMEMO 2
  'urn:xmpp:openpgp:0', // XEP-0373
  'jabber:x:encrypted', // XEP-0027
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
    // A carbon copy is as urgent as the message it carries.
    if (ns === NS_CARBONS && (c.name === 'sent' || c.name === 'received')) {
      const inner = c.getChild('forwarded', NS_FORWARD)?.getChild('message');
      if (inner !== undefined && isImportantMessage(inner)) return true;
    }
  }
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
