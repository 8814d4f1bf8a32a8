import { splitFullJid, tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { ServerApi } from '../../module.js';
import { DIRECTED_PRESENCE as DIRECTED, LAST_DIRECTED, SessionKey, type ClientSession, type OutgoingFilter } from '../../session.js';
import type { Logger } from '../../../util/log.js';
import { NS_MUC, NS_MUC_USER } from '../xep-0045-muc/ns.js';


/*
 * LAST_DIRECTED (declared in session.ts) is kept for when this node comes back after being declared dead
 * (RFC 6121 §4.6): the targets were then told the session went unavailable, and are told again what they had
 * been told before. A room is not sent presence again: to a room one is not in, that is a join (XEP-0045
 * §7.2.1, groupchat 1.0), which the user did not ask for; its occupant is told it is out instead
 * (`roomLeftUnseen`).
 */

/**
 * For a room nick in DIRECTED_PRESENCE whose last presence from the session asked the room for it (a join,
 * XEP-0045 §7.2, or a nick change, §7.6): that presence's id (null without one). Only the room's answer to that
 * request can refuse the nick (`forgetRefused`); a later presence to the nick, or the room's self-presence from
 * it (`forgetAnswered`), ends the request. Kept on the session's node only: a request still unanswered when the
 * session is resumed on another node is not refused there, and its nick is then told the session's unavailable for
 * nothing, as before the refusal rule.
 */
const REQUESTED = new SessionKey<Map<string, string | null>>('presence.directed-requested');

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
  if (first && (stanza.getChild('x', NS_MUC) !== undefined || joined(last, splitFullJid(full).bare))) {
    last.set(full, null);
    let requested = session.get(REQUESTED);
    if (requested === undefined) session.set(REQUESTED, (requested = new Map()));
    requested.set(full, stanza.attrs.id ?? null);
    return;
  }
  session.get(REQUESTED)?.delete(full);
  if (first || last.get(full) !== null) last.set(full, x('presence', { ...stanza.attrs, id: undefined, from: undefined, to: undefined }, ...stanza.elements().map((c) => c.clone())));
}

/** Drops `full` from the session's targets, with what was kept of it; true when it was one. */
export function forgetDirected(session: ClientSession, full: string): boolean {
  session.get(LAST_DIRECTED)?.delete(full);
  session.get(REQUESTED)?.delete(full);
  return session.get(DIRECTED)?.delete(full) === true;
}

/** Drops all the session's targets (it went unavailable); returns them. */
export function forgetAllDirected(session: ClientSession): Set<string> | undefined {
  const set = session.get(DIRECTED);
  session.set(DIRECTED, undefined);
  session.set(LAST_DIRECTED, undefined);
  session.set(REQUESTED, undefined);
  return set;
}

/**
 * What a room, or any target, answered the session's presence with, applied to that session when the answer is
 * written to it (an outgoing filter, so on the session's node, whatever node routed the answer, and before CSI may
 * hold or drop it): an error refusing it (`forgetRefused`), a MUC nick change taken (`nickChangedTo`,
 * `forgetChanged`), a self-presence answering a join or change (`selfPresence`, `forgetAnswered`) or assigning
 * another nick (`nickAssigned`, `forgetAssigned`). Returns whether the targets changed. A session with no targets
 * costs one lookup: nothing here can add one.
 */
function directedAnswer(session: ClientSession, stanza: XmlElement): boolean {
  if (!session.get(DIRECTED)?.size || stanza.attrs.from === undefined) return false;
  const type = stanza.attrs.type;
  if (type === 'error') {
    const target = tryParseJid(stanza.attrs.from);
    return target !== null && forgetRefused(session, target.full, stanza.attrs.id ?? null);
  }
  if (type === 'unavailable') {
    const nick = nickChangedTo(stanza);
    const from = nick === null ? null : tryParseJid(stanza.attrs.from);
    const renamed = from === null ? null : tryParseJid(`${from.bare}/${nick}`);
    return renamed !== null && forgetChanged(session, from!.full, renamed.full, stanza.attrs.id ?? null);
  }
  if (type !== undefined || !selfPresence(stanza)) return false;
  const occupant = tryParseJid(stanza.attrs.from);
  if (occupant === null) return false;
  if (nickAssigned(stanza)) return forgetAssigned(session, occupant.full, stanza.attrs.id ?? null);
  forgetAnswered(session, occupant.full);
  return false;
}

/** Above xep-0352-csi's CSI_FILTER_PRIORITY (1000): a presence CSI holds back or drops is an answer all the same. */
export const DIRECTED_FILTER_PRIORITY = 2000;

/**
 * The outgoing filter applying `directedAnswer` to each presence written to a session; a changed set is announced
 * (the cluster writes it to the session table) without holding the write. Any other stanza costs the name test.
 */
export function directedAnswers(server: ServerApi, log: Logger): OutgoingFilter {
  return (session, stanza) => {
    if (stanza.name === 'presence' && directedAnswer(session, stanza)) {
      server.emit('session/directed', { session }).catch((e: unknown) => log.warn(`${session.jid.full}: announcing its directed presence failed`, e));
    }
    return stanza;
  };
}

/**
 * Node post: an error presence from a target (body: JSON [target, session full JID, error id or null]) reached a
 * session held there. Nodes that predate the id send two elements.
 */
const REFUSED_TOPIC = 'presence/directed-refused';

/**
 * Kept for one release only: nodes older than `directedAnswer` still post, from the node that routed the error, a
 * refusal for a session held here (`forgetRefused`); this node itself sends none. Returns the undo.
 */
export function onRefusedElsewhere(server: ServerApi): () => void {
  return server.onNodePost(REFUSED_TOPIC, async (body) => {
    const [target, full, id] = JSON.parse(body) as [string, string, string | null | undefined];
    const session = server.localSession(full);
    if (session !== undefined && forgetRefused(session, target, id ?? null)) await server.emit('session/directed', { session });
  });
}

/**
 * An error presence from `target` to the session, with the id `id`: whether `target` refused the session's
 * presence and never took it in, so that it must not be sent the session's unavailable later, nor be spoken for on
 * recovery (`leaveLostRooms` would tell the client it left from a nick it never had); true when it was dropped.
 * RFC 6121 §4.6 says nothing of errors: only one from exactly that full JID counts. For a room nick, only the
 * room's answer to the join (XEP-0045 §7.2) or nick change (§7.6) that asked for it counts, matched by id (RFC
 * 6120 §8.1.3; see REQUESTED): an error from the nick the session holds (a rejoin the room turns down, §7.2, while
 * keeping it as an occupant; anything else the room bounces) leaves it in, and the room still hears the session go.
 */
function forgetRefused(session: ClientSession, target: string, id: string | null): boolean {
  // A room nick: undefined (no request pending) never equals an id.
  if (session.get(LAST_DIRECTED)?.get(target) === null && session.get(REQUESTED)?.get(target) !== id) return false;
  return forgetDirected(session, target);
}

/**
 * How many of presence.maxDirected's addresses the session's targets take, with `adding` (a full JID not among them)
 * when given. A room is one, as the option's doc says, while it holds the nick the room knows and one nick change
 * (XEP-0045 §7.6) not yet answered; a further unanswered change takes one more, so that a room that never answers
 * still cannot grow the targets without bound. A scan: made only for a new target, near the cap.
 */
export function directedSlots(session: ClientSession, adding?: string): number {
  const last = session.get(LAST_DIRECTED);
  const nicks = new Map<string, number>();
  let others = 0;
  for (const full of session.get(DIRECTED) ?? []) {
    if (last?.get(full) !== null) others++;
    else nicks.set(splitFullJid(full).bare, (nicks.get(splitFullJid(full).bare) ?? 0) + 1);
  }
  if (adding !== undefined) {
    // As rememberDirected has it: any full JID of a room joined is a nick there.
    const n = nicks.get(splitFullJid(adding).bare);
    if (n === undefined) others++;
    else nicks.set(splitFullJid(adding).bare, n + 1);
  }
  let slots = others;
  for (const n of nicks.values()) slots += Math.max(1, n - 1);
  return slots;
}

/**
 * The new nick a room's presence `stanza` to the user gives her, when it is the room taking her nick change
 * (XEP-0045 §7.6: unavailable from the old nick, status 303 with the new nick in `<item/>`, and 110, as it is
 * about her; without 110 it is another occupant's change); otherwise null.
 */
function nickChangedTo(stanza: XmlElement): string | null {
  const ux = stanza.attrs.type === 'unavailable' ? stanza.getChild('x', NS_MUC_USER) : undefined;
  if (ux === undefined) return null;
  const codes = ux.getChildren('status').map((s) => s.attrs.code);
  const nick = ux.getChild('item')?.attrs.nick;
  return codes.includes('303') && codes.includes('110') && nick !== undefined && nick !== '' ? nick : null;
}

/**
 * Whether a room's presence `stanza` to the user is the self-presence (110) of a room that assigned or changed the
 * nick she asked for (210, XEP-0045 §7.2.9): available, and sent from the nick the room gave her. 210, which the
 * XEP requires of a room that changes the nick, rather than any 110 from a nick she did not ask for: a presence
 * about another occupant of hers (her other resource's, sent before her own self-presence, §7.2.3) taken for her
 * nick here would later tell that occupant she left.
 */
function nickAssigned(stanza: XmlElement): boolean {
  return selfPresence(stanza) && stanza.getChild('x', NS_MUC_USER)!.getChildren('status').some((s) => s.attrs.code === '210');
}

/** Whether a room's available presence `stanza` to the user is about her own occupant (status 110, XEP-0045 §7.2.3). */
function selfPresence(stanza: XmlElement): boolean {
  const ux = stanza.attrs.type === undefined ? stanza.getChild('x', NS_MUC_USER) : undefined;
  return ux !== undefined && ux.getChildren('status').some((s) => s.attrs.code === '110');
}

/**
 * Node post: a room took a nick change of a session held there, or assigned it a nick (body: JSON [old occupant
 * JID, or null when the room assigned one, new one, session full JID, presence id or null]); old and new the same:
 * the room's self-presence from that nick answered the request for it. Sent by nodes older than `directedAnswer`.
 */
const RENAMED_TOPIC = 'presence/directed-renamed';

/**
 * Kept for one release only, as `onRefusedElsewhere`: nodes older than `directedAnswer` still post, from the node
 * that routed a room's presence, what it says of a session held here; this node itself sends none. Returns the undo.
 */
export function onRenamedElsewhere(server: ServerApi): () => void {
  return server.onNodePost(RENAMED_TOPIC, async (body) => {
    const [old, renamed, full, id] = JSON.parse(body) as [string | null, string, string, (string | null)?];
    const session = server.localSession(full);
    if (session === undefined) return;
    let changed = false;
    if (old === renamed) forgetAnswered(session, renamed);
    else if (old !== null) changed = forgetChanged(session, old, renamed, id ?? null);
    else changed = forgetAssigned(session, renamed, id ?? null);
    if (changed) await server.emit('session/directed', { session });
  });
}

/**
 * The room's self-presence (`selfPresence`) from `occupant` reached the session: a join or change asking for that
 * nick is answered, so an error with its id arriving later (the room bouncing something else under a reused id) no
 * longer reads as the room refusing it, which would drop the nick she is in the room under and leave her a ghost
 * when she goes.
 */
function forgetAnswered(session: ClientSession, occupant: string): void {
  session.get(REQUESTED)?.delete(occupant);
}

/**
 * The nick asked for in `room` that a room's answer with the id `id` answers, among the requests pending there
 * (REQUESTED, room nicks with no presence sent since) other than `except`: the one with that id, for a room that
 * reflects it, else the oldest, as a room answers requests in the order it got them.
 */
function requestAnswered(session: ClientSession, room: string, id: string | null, except?: string): string | undefined {
  const last = session.get(LAST_DIRECTED);
  let asked: string | undefined;
  for (const [full, rid] of session.get(REQUESTED) ?? []) {
    if (full === except || last?.get(full) !== null || splitFullJid(full).bare !== room) continue;
    if (id !== null && rid === id) return full;
    asked ??= full;
  }
  return asked;
}

/**
 * The room's self-presence from `assigned` carries 210 (`nickAssigned`): it took her in, or kept her, under that
 * nick rather than the one she asked for, which stops being a target while the assigned one is it, so that when
 * she goes the room hears her leave from the occupant it knows (§7.14); a remote room (Prosody, ejabberd) reads an
 * unavailable to the nick asked for as addressed to no occupant and keeps her as a ghost. The nick replaced is the
 * request it answers (`requestAnswered`). Nothing when there is none, so a room cannot add a target; when the
 * assigned nick is one already (asked for, or named by the room's answer to a change), only its request, if any,
 * is over. True when the targets changed.
 */
function forgetAssigned(session: ClientSession, assigned: string, id: string | null): boolean {
  if (session.get(DIRECTED)?.has(assigned) !== false) {
    forgetAnswered(session, assigned);
    return false;
  }
  const asked = requestAnswered(session, splitFullJid(assigned).bare, id);
  return asked !== undefined && forgetRenamed(session, asked, assigned);
}

/**
 * The room `old` (room@service/oldnick) told the session it now holds `renamed` there (`nickChangedTo`). The old
 * nick stops being a target: the room knows her by the new one only, and reads an unavailable to the old as her
 * leaving from the new (§7.14 has her leave from her current nick), so it would hear her go twice. The new nick
 * becomes one if it was not (an answer to an earlier change arriving after a later change was sent: each answer
 * moves her from the nick it names to the one it names, and she ends under the room's last word). When the room
 * names another nick than any she asked for there, it changed the one she asked for (XEP-0045 §7.6, with 210 on
 * the self-presence that follows, as §7.2.9 has for a join): the request it answers (`requestAnswered`, by the
 * change's id or the oldest) names a nick the room will never give her, which stops being a target too, or a
 * remote room would read her unavailable to it as a join or a stranger's presence. Only when `old` is a room nick
 * among the targets, so a room can neither add nor remove one with it. True when the targets changed.
 */
function forgetChanged(session: ClientSession, old: string, renamed: string, id: string | null): boolean {
  if (session.get(LAST_DIRECTED)?.get(old) !== null) return false;
  if (session.get(REQUESTED)?.has(renamed) !== true) {
    const asked = requestAnswered(session, splitFullJid(renamed).bare, id, old);
    if (asked !== undefined) forgetDirected(session, asked);
  }
  return forgetRenamed(session, old, renamed);
}

function forgetRenamed(session: ClientSession, old: string, renamed: string): boolean {
  const last = session.get(LAST_DIRECTED);
  const set = session.get(DIRECTED);
  if (last === undefined || set === undefined || last.get(old) !== null) return false;
  forgetDirected(session, old);
  // Answered: the change that asked for the nick can no longer be refused.
  session.get(REQUESTED)?.delete(renamed);
  if (!set.has(renamed)) {
    set.add(renamed);
    last.set(renamed, null);
  }
  return true;
}

/**
 * A session resumed here from another node (XEP-0198, xep-0198-sm/handover.ts) brings the targets it had there,
 * as many as that node's presence.maxDirected let it keep, more than `max`, this node's, when that is lower (both
 * counted as `directedSlots` does: a nick change not yet answered is no extra target). The cap's rule holds: what
 * came last goes first, as a target over the cap is refused rather than an earlier one forgotten. A room goes
 * whole (all its nicks), once its newest nick is among the last. Each dropped target that `hearsBroadcast` (a
 * subscriber, while the session broadcasts presence) needs nothing; the others are sent unavailable (§4.6.3: it
 * was sent presence, and would otherwise show the session online for good, or keep it as a ghost occupant; a room
 * answers with the unavailable self-presence, so the client sees it is out), and the client gets the cap's
 * policy-violation error from it, as for presence to one target too many.
 */
export async function capResumed(server: ServerApi, session: ClientSession, max: number, hearsBroadcast: (bare: string) => Promise<boolean>): Promise<void> {
  const set = session.get(DIRECTED);
  if (set === undefined || set.size <= max || directedSlots(session) <= max) return;
  const last = session.get(LAST_DIRECTED);
  const dropped: string[] = [];
  for (const full of [...set].reverse()) {
    if (directedSlots(session) <= max) break;
    if (!set.has(full)) continue; // an older nick of a room dropped already
    dropped.push(full);
    const room = last?.get(full) === null ? splitFullJid(full).bare : null;
    for (const t of [...set]) if (t === full || (room !== null && last?.get(t) === null && splitFullJid(t).bare === room)) forgetDirected(session, t);
  }
  await server.emit('session/directed', { session });
  for (const full of dropped) {
    if (await hearsBroadcast(splitFullJid(full).bare)) continue;
    const error = new StanzaError('policy-violation', `this server keeps presence sent to at most ${max} addresses; presence to this one ended when the session moved here`, 'modify');
    session.send(errorReply(x('presence', { from: session.jid.full, to: full }), error));
    await server.route(x('presence', { type: 'unavailable', from: session.jid.full, to: full }));
  }
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
    for (const full of nicks) forgetDirected(session, full);
    found.left = true;
    session.send(roomLeftUnseen(nicks[nicks.length - 1]!, session.jid.full));
  }
  return found;
}
