/**
 * XEP-0280's rules: which messages are copied to a user's other resources,
 * and what a copy looks like. Kept outside the carbons module because others
 * need the same answers: push (will a hibernated resource get a copy of this
 * message?) and anything that looks inside a copy.
 */
import { x, type XmlElement } from '../util/xml.js';
import { NS_HINTS } from './hints.js';
import { ENCRYPTED_NAMESPACES } from './encrypted-payloads.js';

export const NS_CARBONS = 'urn:xmpp:carbons:2';
export const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

/**
 * Payload namespaces that make a bodiless type-normal message part of a
 * conversation (XEP-0280 §6 leaves the rules to the server; these follow its
 * intent): chat markers, delivery receipts, chat states, end-to-end
 * encryption, corrections, retractions, reactions, call (Jingle message) signalling,
 * and direct MUC invitations (XEP-0249; XEP-0280's MUC rules say invitations are copied).
 */
const IM_PAYLOADS: ReadonlySet<string> = new Set([
  'urn:xmpp:chat-markers:0',
  'urn:xmpp:receipts',
  'http://jabber.org/protocol/chatstates',
  ...ENCRYPTED_NAMESPACES,
  'urn:xmpp:message-correct:0',
  'urn:xmpp:message-retract:0',
  'urn:xmpp:message-retract:1',
  'urn:xmpp:reactions:0',
  'urn:xmpp:jingle-message:0',
  'jabber:x:conference',
]);

/**
 * Whether a message is copied to the user's other resources (XEP-0280 §6).
 * `inbound` is true for a message delivered to the user, false for one the user sent.
 *
 *  - groupchat, headline and error messages are not copied (errors would need
 *    correlation with the message they answer, which §6 itself calls inappropriate);
 *  - `<private xmlns='urn:xmpp:carbons:2'/>` (§7) and `<no-copy xmlns='urn:xmpp:hints'/>` (XEP-0334) stop copies;
 *  - carbons and other forwarded wrappers are never copied again;
 *  - inbound messages from a MUC (carrying muc#user `<x/>`: room private
 *    messages) are not copied, except mediated invitations;
 *  - type chat is copied, whatever it carries (chat states and markers included);
 *  - type normal is copied when it has a body, one of IM_PAYLOADS, or is a mediated invitation.
 */
export function carbonEligible(stanza: XmlElement, inbound: boolean): boolean {
  const type = stanza.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return false;
  let im = false;
  let muc = false;
  let invite = false;
  for (const c of stanza.children) {
    if (typeof c === 'string') continue;
    const ns = c.attrs.xmlns;
    if (ns === NS_CARBONS) return false; // <private/>, or a <sent/>/<received/> wrapper
    if (ns === NS_HINTS && c.name === 'no-copy') return false;
    if (ns === NS_MUC_USER && c.name === 'x') {
      muc = true;
      invite = c.getChild('invite', NS_MUC_USER) !== undefined;
    } else if (c.name === 'body' && (ns === undefined || ns === 'jabber:client')) im = true;
    else if (ns !== undefined && IM_PAYLOADS.has(ns)) im = true;
  }
  if (inbound && muc && !invite) return false;
  return type === 'chat' || im || invite;
}

/** Removes `<private xmlns='urn:xmpp:carbons:2'/>` (§7: the receiving server SHOULD before delivery). */
export function stripPrivate(stanza: XmlElement): void {
  if (stanza.getChild('private', NS_CARBONS) !== undefined) stanza.remove('private', NS_CARBONS);
}

/** The copy one resource receives: from the user's bare JID, wrapping the original (§6, §8). */
export function wrapCarbon(kind: 'sent' | 'received', original: XmlElement, userBare: string, toFull: string): XmlElement {
  const copy = original.clone();
  copy.attrs.xmlns = 'jabber:client';
  return x('message', { xmlns: 'jabber:client', from: userBare, to: toFull, type: original.attrs.type }, x(kind, { xmlns: NS_CARBONS }, x('forwarded', { xmlns: NS_FORWARD }, copy)));
}

/** The message inside a carbon, with its direction, or null when `stanza` is not a carbon. */
export function unwrapCarbon(stanza: XmlElement): { kind: 'sent' | 'received'; message: XmlElement } | null {
  for (const kind of ['received', 'sent'] as const) {
    const m = stanza.getChild(kind, NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message');
    if (m !== undefined) return { kind, message: m };
  }
  return null;
}
