import type { XmlElement } from '../../../util/xml.js';
import { ENCRYPTED_PAYLOADS } from '../../encrypted-payloads.js';

/**
 * Payloads that make a bodiless message worth waking a phone for: end-to-end
 * encrypted messages (their body is inside) and call invitations (XEP-0353).
 */
const URGENT_PAYLOADS: ReadonlyMap<string, string> = new Map([
  ...ENCRYPTED_PAYLOADS,
  ['urn:xmpp:jingle-message:0', 'propose'],
]);

const NS_FALLBACK = 'urn:xmpp:fallback:0';

/** What a push says about the message that caused it. */
export interface PushWorthy {
  /** The message itself. */
  message: XmlElement;
  /** Its plain-text body, if any (sent only when privacy options allow). */
  body: string | undefined;
}

/**
 * sori's rule for messages that cause a push (XEP-0357 §… leaves "which
 * notifications" to the server):
 *  - type chat or normal (headline and error never push; groupchat only when
 *    it mentions the recipient, judged apart: see `groupchatBody`);
 *  - with a non-empty `<body/>`, an end-to-end encrypted payload (OMEMO,
 *    OpenPGP, legacy PGP) or a Jingle call proposal;
 *  - only messages as routed are judged: the carbons sori makes are handed to
 *    sessions directly and never pass here (a phone hibernated while another
 *    device chatted is pushed for the original message), so a carbon wrapper
 *    seen here is a client's forgery and its inner message counts for
 *    nothing: it could name any sender and body for the lock screen;
 *  - chat states, markers, receipts, corrections alone do not push, nor does
 *    a body that is all XEP-0428 fallback (a retraction's "… retracted a
 *    previous message"): the phone would show that text as a new message;
 *  - `<no-store/>`-style hints do not matter (a push stores nothing).
 */
export function pushWorthy(message: XmlElement): PushWorthy | null {
  const type = message.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return null;
  const { body, urgent } = scan(message);
  return body !== undefined || urgent ? { message, body } : null;
}

/**
 * The text a room message could mention someone in: the non-empty body of a
 * groupchat message, unless it is all fallback. A subject change has none,
 * nor has an encrypted payload without a body (there is nothing to match a
 * nick against). Whether the text or the message's references name the
 * recipient is for the caller, who knows the recipient's nick (mention.ts).
 */
export function groupchatBody(message: XmlElement): string | undefined {
  return message.attrs.type === 'groupchat' ? scan(message).body : undefined;
}

function scan(message: XmlElement): { body: string | undefined; urgent: boolean } {
  let body: string | undefined;
  let urgent = false;
  let bodyIsFallback = false;
  for (const c of message.children) {
    if (typeof c === 'string') continue;
    const ns = c.attrs.xmlns;
    if (c.name === 'body' && (ns === undefined || ns === 'jabber:client')) {
      const text = c.getText();
      if (text.trim() !== '') body = text;
    } else if (ns === NS_FALLBACK && c.name === 'fallback') {
      // XEP-0428: with no range given, the whole body is text for clients that lack the feature.
      if (c.getChild('body') === undefined) bodyIsFallback = true;
    } else if (ns !== undefined && URGENT_PAYLOADS.get(ns) === c.name) urgent = true;
  }
  return { body: bodyIsFallback ? undefined : body, urgent };
}
