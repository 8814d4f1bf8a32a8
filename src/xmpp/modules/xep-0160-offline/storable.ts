import type { XmlElement } from '../../../util/xml.js';
import { NS_CARBONS } from '../../carbon-copies.js';
import { NS_HINTS } from '../../hints.js';
import { NS_SID } from '../../stanza-id.js';

/**
 * Namespaces whose elements carry nothing the recipient would miss on their
 * own: chat states (XEP-0160 §3 names messages "that contain only" them as
 * the exception), processing hints, XEP-0359 ids; and the wrappers of copies
 * made for one session, a carbon (XEP-0280) or an archive query's result
 * (XEP-0313), which stream management hands here when that session ends
 * unacknowledged: the next session has the message itself (delivered, offline
 * or archived) and never asked for those copies. `<private/>` of carbons is
 * in that namespace too, and beside a body changes nothing here.
 * A lookup table so that each child costs one probe.
 */
const METADATA_ONLY: ReadonlySet<string> = new Set([
  'http://jabber.org/protocol/chatstates',
  NS_HINTS,
  NS_SID,
  NS_CARBONS,
  'urn:xmpp:mam:2',
]);

/**
 * XEP-0160 §3 and XEP-0334 §4: whether a message that found no resource
 * should be kept for later.
 *
 * A deny-list, not an allow-list: every `normal` or `chat` message is kept
 * unless it carries nothing but metadata (METADATA_ONLY, a `<thread/>`), so a
 * payload sori has never heard of (a reaction, a retraction, an out-of-band
 * link, next year's XEP) reaches the recipient instead of vanishing.
 *
 * Hints: `<no-store/>` forbids any storage, temporary included, and wins.
 * `<store/>` asks for storage of any message but an error (XEP-0334 §4), so
 * a headline asking for it is kept; a groupchat message never is, hint or
 * not: a room's message held until its occupant is gone from the room means
 * nothing then (RFC 6121 §8.5.3.2.1 answers one sent to an unavailable
 * resource with an error). `<no-permanent-store/>` does not stop us:
 * XEP-0334's use cases (§3) name holding a message for an offline recipient as the
 * temporary storage its sender still accepts; only archives (MAM) obey it.
 *
 * One pass over the direct children, with no allocation: a message with a
 * body decides in a few comparisons per child.
 */
export function isStorable(stanza: XmlElement): boolean {
  const type = stanza.attrs.type;
  if (type === 'error' || type === 'groupchat') return false;
  let worth = false;
  let asked = false;
  for (const c of stanza.children) {
    if (typeof c === 'string') continue;
    const ns = c.attrs.xmlns;
    if (ns === NS_HINTS) {
      if (c.name === 'no-store') return false;
      if (c.name === 'store') asked = true;
    } else if (!worth) {
      // No xmlns of its own: the stanza's namespace (jabber:client, or none yet in a stanza the server built).
      if (ns === undefined || ns === 'jabber:client' || ns === 'jabber:server') worth = c.name !== 'thread';
      else worth = !METADATA_ONLY.has(ns);
    }
  }
  if (asked) return true;
  // XEP-0160 §3: a headline is not kept for an absent recipient unless it asks to be.
  return worth && (type === undefined || type === 'normal' || type === 'chat');
}
