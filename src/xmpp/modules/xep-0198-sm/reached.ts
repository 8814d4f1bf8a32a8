import type { XmlElement } from '../../../util/xml.js';
import { carbonEligible } from '../../carbon-copies.js';
import type { RouteEvent } from '../../events.js';
import { ARCHIVE_QUERIED, CARBONS_ENABLED, takesBareJidMessages, type ClientSession } from '../../session.js';
import { stanzaIdBy } from '../../stanza-id.js';

/**
 * How a session came to hold a message, and so what must still hold of it:
 * 'bare': the RFC 6121 §8.5.2.1.1 fan-out (it must still take bare-JID messages);
 * 'full': it was the addressed resource; 'carbon': a XEP-0280 received copy
 * (carbons must still be on); 'sender': it sent the message itself.
 */
type How = 'bare' | 'full' | 'carbon' | 'sender';

interface Holders {
  sessions: ClientSession[];
  how: How[];
}


/**
 * Which sessions of this node were handed a message besides the one that
 * never acknowledged it, so that stream management does not store offline a
 * message another device of the user already has (XEP-0198 §4 allows
 * "delivery to an alternate resource" instead of offline storage).
 *
 * Recorded as the message is routed, by the same rules the router and the
 * carbons module apply, from a hook between the archive (whose copy is the
 * object delivered) and carbons (which strips `<private/>`, needed here to
 * know whether copies are made). Only for accounts with two sessions here
 * and only for the object this node delivers: a session elsewhere in the
 * cluster, or a copy that came from another node, finds no record, and the
 * message is stored offline as before. Entries go with the stanza (a
 * WeakMap), so nothing is cleaned up by hand.
 */
export class Reached {
  private readonly byStanza = new WeakMap<XmlElement, Holders>();

  /** message/bare and message/full: notes the sessions among `sessions` (the account's, here) that will hold `ev.stanza`. */
  note(ev: RouteEvent, sessions: readonly ClientSession[]): void {
    const stanza = ev.stanza;
    if (stanza.name !== 'message' || sessions.length < 2) return;
    const type = stanza.attrs.type ?? 'normal';
    if (type !== 'chat' && type !== 'normal') return;
    // A full JID not bound here falls back to the bare JID's rules (§8.5.3.2.1), or is delivered on another
    // node: then no session here holds this object, and what is noted is never asked for.
    const toFull = ev.to.resource !== '' ? ev.to.full : null;
    const direct = toFull !== null && sessions.some((s) => s.jid.full === toFull);
    const copied = carbonEligible(stanza, true);
    let holders: Holders | undefined;
    let originals = 0;
    for (const s of sessions) {
      let how: How | null = null;
      if (direct ? s.jid.full === toFull : takesBareJidMessages(s)) {
        how = direct ? 'full' : 'bare';
        originals++;
      } else if (s.jid.full === ev.from.full) how = 'sender';
      else if (copied && s.get(CARBONS_ENABLED) === true) how = 'carbon';
      if (how === null) continue;
      holders ??= { sessions: [], how: [] };
      holders.sessions.push(s);
      holders.how.push(how);
    }
    if (holders !== undefined && originals > 0 && holders.sessions.length > 1) this.byStanza.set(stanza, holders);
  }

  /**
   * Whether a session of the account other than `session`, still open, holds
   * `stanza`: it has shown it (acknowledged or not) or, unacknowledged, will
   * store it offline itself when it ends, as this one would have. Checked
   * again now as noted, so that a session whose presence or carbons changed
   * while the message was on its way is not counted on.
   */
  heldElsewhere(session: ClientSession, stanza: XmlElement): boolean {
    const holders = this.byStanza.get(stanza);
    if (holders === undefined) return false;
    for (let i = 0; i < holders.sessions.length; i++) {
      const s = holders.sessions[i]!;
      if (s === session || !s.open) continue;
      const how = holders.how[i]!;
      if (how === 'full' || how === 'sender') return true;
      if (how === 'bare' ? takesBareJidMessages(s) : s.get(CARBONS_ENABLED) === true) return true;
    }
    return false;
  }
}

/**
 * XEP-0313: the message is in the archive of the session's user (it carries
 * the stanza-id the archive gave it: ids by a local JID that the archive did
 * not add are stripped on the way in) and the client caught up from that
 * archive in this session, as it will after reconnecting.
 */
export function archivedForClient(session: ClientSession, stanza: XmlElement): boolean {
  return session.get(ARCHIVE_QUERIED) === true && stanzaIdBy(stanza, session.jid.bare) !== undefined;
}
