import type { XmlElement } from '../../../util/xml.js';
import { NS_HINTS } from '../../hints.js';
import { ENCRYPTED_PAYLOADS } from '../../encrypted-payloads.js';

/**
 * Payloads that make a message worth keeping although it has no `<body/>`
 * (XEP-0313 §5.1.1 lets servers keep "additional non-conversation messages";
 * these are what clients need to rebuild a conversation from the archive):
 * end-to-end encrypted messages, chat markers (XEP-0333 §6 says markers are
 * archived), corrections, retractions, reactions, and direct MUC invitations
 * (XEP-0249: Gajim sends them without a body; carbons and
 * offline storage already keep them, and a device that was away learns of
 * the invitation only from here).
 */
const KEPT_PAYLOADS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ...ENCRYPTED_PAYLOADS.map(([ns, name]): [string, ReadonlySet<string>] => [ns, new Set([name])]),
  ['urn:xmpp:chat-markers:0', new Set(['received', 'displayed', 'acknowledged'])],
  ['urn:xmpp:message-correct:0', new Set(['replace'])],
  ['urn:xmpp:message-retract:0', new Set(['retract'])],
  ['urn:xmpp:message-retract:1', new Set(['retract'])],
  ['urn:xmpp:fasten:0', new Set(['apply-to'])], // retraction v0 is carried in <apply-to/>
  ['urn:xmpp:reactions:0', new Set(['reactions'])],
  ['jabber:x:conference', new Set(['x'])],
]);

const SKIPPED_TYPES = new Set(['error', 'groupchat', 'headline']);

/**
 * Whether a message goes into user archives (XEP-0313 §5.1.1, XEP-0334):
 * type normal or chat; not marked `<no-store/>` or `<no-permanent-store/>`;
 * with a body or one of KEPT_PAYLOADS, or marked `<store/>`. Chat states
 * alone (typing notifications) are not archived. Only direct children are
 * looked at: a carbon or MAM result wrapping a message is not itself archived.
 */
export function shouldArchive(stanza: XmlElement): boolean {
  const type = stanza.attrs.type;
  if (type !== undefined && SKIPPED_TYPES.has(type)) return false;
  let keep = false;
  for (const c of stanza.children) {
    if (typeof c === 'string') continue;
    const ns = c.attrs.xmlns;
    if (ns === NS_HINTS) {
      if (c.name === 'no-store' || c.name === 'no-permanent-store') return false;
      if (c.name === 'store') keep = true;
      continue;
    }
    if (keep) continue;
    if (c.name === 'body' && (ns === undefined || ns === 'jabber:client')) keep = true;
    else if (ns !== undefined && KEPT_PAYLOADS.get(ns)?.has(c.name)) keep = true;
  }
  return keep;
}

export type DefaultPolicy = 'always' | 'never' | 'roster';

/** Per-user archiving preferences (XEP-0441, in the urn:xmpp:mam:2 namespace). */
export interface Prefs {
  default: DefaultPolicy;
  always: string[];
  never: string[];
}

/**
 * XEP-0441 §4: `never` wins over `always`, both over the default; `roster`
 * archives only contacts in the owner's roster, so the answer is 'roster'
 * when the caller must look there (the roster is only read when the default decides).
 *
 * `withFull` is the message's 'to' (sent) or 'from' (received) as it is
 * (XEP-0441 "JID matching"): a listed bare JID matches every resource of
 * that contact, a listed full JID only that resource.
 */
export function prefsAllow(prefs: Prefs, withBare: string, withFull: string): boolean | 'roster' {
  if (listed(prefs.never, withBare, withFull)) return false;
  if (listed(prefs.always, withBare, withFull)) return true;
  if (prefs.default === 'always') return true;
  if (prefs.default === 'never') return false;
  return 'roster';
}

/** Lists are short and usually empty: the per-message cost is a length test. */
function listed(list: readonly string[], withBare: string, withFull: string): boolean {
  if (list.length === 0) return false;
  return list.includes(withBare) || (withFull !== withBare && list.includes(withFull));
}
