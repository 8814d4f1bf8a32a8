import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { XmlElement } from '../../util/xml.js';

/** XEP-0220 Server Dialback. */
export const NS_DIALBACK = 'jabber:server:dialback';
/** XEP-0220 §2.4: the stream feature announcing dialback (with error support). */
export const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback';

/**
 * XEP-0185 §3: key = HEX( HMAC-SHA256( SHA256(secret), receiving ' ' originating ' ' streamId ) ).
 * "Receiving" is the server the originating stream goes to; the stream id is
 * the one the receiving server put in its response header. Only the
 * authoritative server (the one holding the secret) ever checks the key.
 */
export function dialbackKey(secret: string, receiving: string, originating: string, streamId: string): string {
  const k = createHash('sha256').update(secret).digest('hex');
  return createHmac('sha256', k).update(`${receiving} ${originating} ${streamId}`).digest('hex');
}

/** Compares a received key with the expected one in constant time. */
export function dialbackKeyMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(received.trim());
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Which dialback element this is: `<db:result>` / `<db:verify>` with the
 * prefix the stream header declared, or the same names with an explicit
 * namespace (both are the same XML).
 */
export function dialbackKind(el: XmlElement): 'result' | 'verify' | null {
  if (el.name === 'db:result') return 'result';
  if (el.name === 'db:verify') return 'verify';
  if (el.attrs.xmlns === NS_DIALBACK && (el.name === 'result' || el.name === 'verify')) return el.name;
  return null;
}
