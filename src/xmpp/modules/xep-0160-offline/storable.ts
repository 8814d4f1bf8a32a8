import type { XmlElement } from '../../../util/xml.js';

export const NS_HINTS = 'urn:xmpp:hints';

/**
 * Payloads worth keeping for an offline recipient besides a body: encrypted
 * messages (OMEMO, OpenPGP), receipts and markers (the sender wants the
 * recipient to get them), invitations. Chat states alone are not (XEP-0085
 * §5.6: notifications are not stored offline).
 */
const STORABLE: readonly [string, string][] = [
  ['body', 'jabber:client'],
  ['subject', 'jabber:client'],
  ['encrypted', 'eu.siacs.conversations.axolotl'],
  ['encrypted', 'urn:xmpp:omemo:2'],
  ['openpgp', 'urn:xmpp:openpgp:0'],
  ['x', 'jabber:x:encrypted'],
  ['received', 'urn:xmpp:receipts'],
  ['displayed', 'urn:xmpp:chat-markers:0'],
  ['received', 'urn:xmpp:chat-markers:0'],
  ['acknowledged', 'urn:xmpp:chat-markers:0'],
  ['x', 'jabber:x:conference'],
  ['x', 'http://jabber.org/protocol/muc#user'],
];

/**
 * XEP-0160 §3 and XEP-0334 hints: whether a message that found no resource
 * should be kept for later. Only `normal` and `chat` messages are candidates
 * (RFC 6121 §8.5.2.2.1); `<no-store/>` forbids it, `<store/>` asks for it.
 */
export function isStorable(stanza: XmlElement): boolean {
  const type = stanza.attrs.type ?? 'normal';
  if (type !== 'normal' && type !== 'chat') return false;
  if (stanza.getChild('no-store', NS_HINTS) !== undefined) return false;
  if (stanza.getChild('store', NS_HINTS) !== undefined) return true;
  for (const [name, ns] of STORABLE) if (stanza.getChild(name, ns) !== undefined) return true;
  // A stanza the server built itself (a notice from a module) has no namespace until it is written out in jabber:client.
  if (stanza.getNS() !== undefined) return false;
  const unqualified = (name: string): boolean => {
    const child = stanza.getChild(name);
    return child !== undefined && child.getNS() === undefined;
  };
  return unqualified('body') || unqualified('subject');
}
