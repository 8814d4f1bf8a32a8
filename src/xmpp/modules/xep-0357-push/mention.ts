import { tryParseJid, type Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';

const NS_REFERENCE = 'urn:xmpp:reference:0';

/** Who a room message may mention: one occupant, as its room and its account know it. */
export interface MentionTarget {
  /** The occupant's nick in the room. */
  nick: string;
  /** `room@service/nick`. */
  occupantJid: string;
  /** The occupant's real bare JID. */
  bare: string;
}

/**
 * Whether a room message's body or XEP-0372 references mention `target`: the nick as a word of the body, or a
 * `<reference type='mention'/>` whose xmpp: URI is the occupant's room JID or the account's bare JID. Clients
 * highlight the same two ways (Conversations and Monal look for the nick; XEP-0372 is what a client that
 * completes the nick sends); a reference alone counts, since its `begin`/`end` may point into text another
 * client renders differently.
 */
export function mentions(message: XmlElement, body: string, target: MentionTarget): boolean {
  return namesNick(body, target.nick) || referencesTarget(message, target);
}

/** Letters (with their combining marks), digits and `_`: a nick glued to one of these is part of a longer word. */
const WORD_CHAR = /[\p{L}\p{M}\p{N}_]/u;

/**
 * The nick occurs in the text as a word of its own, compared without case: "bob" is in "Bob, look" and
 * "@bob:" but not in "bobby" or "kebob". Every occurrence is tried, so "bobby asked bob" names bob.
 */
export function namesNick(text: string, nick: string): boolean {
  const needle = nick.toLowerCase();
  if (needle === '') return false;
  const hay = text.toLowerCase();
  for (let at = hay.indexOf(needle); at !== -1; at = hay.indexOf(needle, at + 1)) {
    if (!wordCharBefore(hay, at) && !wordCharAt(hay, at + needle.length)) return true;
  }
  return false;
}

function wordCharAt(s: string, i: number): boolean {
  const cp = s.codePointAt(i);
  return cp !== undefined && WORD_CHAR.test(String.fromCodePoint(cp));
}

function wordCharBefore(s: string, i: number): boolean {
  if (i === 0) return false;
  // A character outside the BMP ends in a low surrogate: read it from its start.
  const low = s.charCodeAt(i - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && i >= 2 ? i - 2 : i - 1;
  return wordCharAt(s, start);
}

function referencesTarget(message: XmlElement, target: MentionTarget): boolean {
  for (const c of message.children) {
    if (typeof c === 'string' || c.name !== 'reference' || c.attrs.xmlns !== NS_REFERENCE || c.attrs.type !== 'mention') continue;
    const jid = jidOfUri(c.attrs.uri);
    if (jid !== null && (jid.full === target.occupantJid || (jid.resource === '' && jid.bare === target.bare))) return true;
  }
  return false;
}

/** The JID an xmpp: URI (RFC 5122) points at, without its query or fragment; null for anything else. */
function jidOfUri(uri: string | undefined): Jid | null {
  if (uri === undefined || uri.slice(0, 5).toLowerCase() !== 'xmpp:') return null;
  let path = uri.slice(5);
  // xmpp://account/target names the account to act as first: the target follows it.
  if (path.startsWith('//')) {
    const slash = path.indexOf('/', 2);
    if (slash === -1) return null;
    path = path.slice(slash + 1);
  }
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  try {
    return tryParseJid(decodeURIComponent(path));
  } catch {
    // A malformed percent-escape.
    return null;
  }
}
