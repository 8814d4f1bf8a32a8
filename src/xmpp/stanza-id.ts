import type { XmlElement } from '../util/xml.js';

/**
 * XEP-0359's namespace, for `<stanza-id by= id=/>` (stamped by an archive or a
 * room) and `<origin-id id=/>` (set by the sending client). It lives in the
 * core, as NS_STANZAS does in errors.ts, because archiving, rooms, stream
 * management, push, retraction, moderation, spam reports and offline storage
 * all read these elements and none of them should import another module for a
 * string.
 */
export const NS_SID = 'urn:xmpp:sid:0';

/**
 * The first `<stanza-id/>` among the stanza's direct children stamped by `by`
 * (an account's bare JID for its archive), or undefined. Its `id` is the
 * message's id in that archive. Only ids by a local JID that this server added
 * are trusted (XEP-0359 §5): the archive strips the others on the way in. A
 * loop, not getChildren: no array for a question stream management asks of
 * every message it requeues.
 */
export function stanzaIdBy(stanza: XmlElement, by: string): XmlElement | undefined {
  for (const c of stanza.children) {
    if (typeof c !== 'string' && c.name === 'stanza-id' && c.attrs.by === by && c.getNS() === NS_SID) return c;
  }
  return undefined;
}
