import { splitFullJid, type Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import type { ServerApi } from '../../module.js';
import { DIRECTED_PRESENCE as DIRECTED, LAST_DIRECTED, type ClientSession } from '../../session.js';
import { NS_MUC, NS_MUC_USER } from '../xep-0045-muc/ns.js';


/*
 * LAST_DIRECTED (declared in session.ts) is kept for when this node comes back after being declared dead
 * (RFC 6121 §4.6): the targets were then told the session went unavailable, and are told again what they had
 * been told before. A room is not sent presence again: to a room one is not in, that is a join (XEP-0045
 * §7.2.1, groupchat 1.0), which the user did not ask for; its occupant is told it is out instead
 * (`roomLeftUnseen`).
 */

/**
 * Records `stanza`, an available presence the session sends to `full`; `first` when `full` just joined
 * DIRECTED_PRESENCE. A room stays a room through presence updates and nick changes (XEP-0045 §7.6), which
 * carry no MUC `<x/>`: a new nick in a room the session joined is the room again, never a target to send
 * presence to later. Only presence to others is kept.
 */
export function rememberDirected(session: ClientSession, full: string, stanza: XmlElement, first: boolean): void {
  let last = session.get(LAST_DIRECTED);
  if (last === undefined) session.set(LAST_DIRECTED, (last = new Map()));
  // Added last: a room's newest nick comes after its others (leaveLostRooms speaks from it).
  if (first && (stanza.getChild('x', NS_MUC) !== undefined || joined(last, splitFullJid(full).bare))) last.set(full, null);
  else if (first || last.get(full) !== null) last.set(full, x('presence', { ...stanza.attrs, id: undefined, from: undefined, to: undefined }, ...stanza.elements().map((c) => c.clone())));
}

/** Node post: an error presence from a target (body: JSON [target, session full JID]) reached a session held there. */
const REFUSED_TOPIC = 'presence/directed-refused';

/**
 * An error presence from `target` to the session `to`: if `target` was one of its directed-presence targets, it
 * refused the presence (XEP-0045 §7.6, a nick change to a nick in use; §7.2, a join the room turned down) and
 * never took the session in. It must not be sent the session's unavailable later, nor be spoken for on recovery
 * (`leaveLostRooms` would tell the client it left from a nick it never had). RFC 6121 §4.6 says nothing of this:
 * only an error from exactly that full JID counts. This runs on the node routing the error (the one running the
 * room), so a session held on another node is told there.
 */
export async function directedRefused(server: ServerApi, target: string, to: Jid): Promise<void> {
  const local = server.localSession(to.full);
  if (local !== undefined) return forgetRefused(server, local, target);
  if (!server.clustered) return;
  const r = (await server.resources(to.bare)).find((res) => res.full === to.full);
  if (r !== undefined && r.node !== null && r.session === null) await server.nodePost(r.node, REFUSED_TOPIC, JSON.stringify([target, to.full]));
}

/** `directedRefused` for sessions of this node, from the node that routed the error; returns the undo. */
export function onRefusedElsewhere(server: ServerApi): () => void {
  return server.onNodePost(REFUSED_TOPIC, async (body) => {
    const [target, full] = JSON.parse(body) as [string, string];
    const session = server.localSession(full);
    if (session !== undefined) await forgetRefused(server, session, target);
  });
}

async function forgetRefused(server: ServerApi, session: ClientSession, target: string): Promise<void> {
  if (session.get(DIRECTED)?.delete(target) !== true) return;
  session.get(LAST_DIRECTED)?.delete(target);
  await server.emit('session/directed', { session });
}

/** Whether a room `room` (bare JID) is among the targets; a scan, made only for a target not seen before. */
function joined(last: Map<string, XmlElement | null>, room: string): boolean {
  for (const [full, sent] of last) if (sent === null && splitFullJid(full).bare === room) return true;
  return false;
}

/**
 * XEP-0045 self-presence saying the session is no longer an occupant of `occupant` (room@service/nick), as
 * the room would have sent it had it been able to reach the session: status 110 (this is you) and 333
 * (removed because of a technical failure between the room and the user's server). 333 rather than 332, which
 * says the MUC service itself is shutting down: here the user's server failed. Clients such as Conversations
 * and Gajim rejoin on either; XEP-0410 self-pings would otherwise find it out only at their next ping.
 */
export function roomLeftUnseen(occupant: string, user: string): XmlElement {
  return x('presence', { type: 'unavailable', from: occupant, to: user },
    x('x', { xmlns: NS_MUC_USER }, x('item', { role: 'none' }), x('status', { code: '110' }), x('status', { code: '333' })));
}

/** What `leaveLostRooms` found for one session. */
export interface DirectedToRestore {
  session: ClientSession;
  /** Targets other than rooms, each with the last presence it had, to be sent it again. */
  resend: Array<[string, XmlElement]>;
  /** A room was left: DIRECTED_PRESENCE changed. */
  left: boolean;
}

/**
 * This node was declared dead while only paused, and the survivor told the session's directed-presence targets
 * it went unavailable (RFC 6121 §4.6.3). Rooms it had joined dropped it as an occupant: its client is told it is
 * out of each (`roomLeftUnseen`, once per room, from its newest nick there), and may rejoin; it is not rejoined
 * in its name. A room where `stillIn(room, session)` (one this node runs) is left alone. Other targets are
 * returned to be sent their presence again.
 */
export function leaveLostRooms(session: ClientSession, stillIn: (room: string, full: string) => boolean): DirectedToRestore {
  const set = session.get(DIRECTED);
  const last = session.get(LAST_DIRECTED);
  const found: DirectedToRestore = { session, resend: [], left: false };
  if (set === undefined || last === undefined) return found;
  // Room → its nicks, oldest first (the map's order).
  const rooms = new Map<string, string[]>();
  for (const [full, sent] of last) {
    if (!set.has(full)) continue;
    if (sent !== null) found.resend.push([full, sent]);
    else rooms.set(splitFullJid(full).bare, [...(rooms.get(splitFullJid(full).bare) ?? []), full]);
  }
  for (const [room, nicks] of rooms) {
    if (stillIn(room, session.jid.full)) continue;
    for (const full of nicks) {
      set.delete(full);
      last.delete(full);
    }
    found.left = true;
    session.send(roomLeftUnseen(nicks[nicks.length - 1]!, session.jid.full));
  }
  return found;
}
