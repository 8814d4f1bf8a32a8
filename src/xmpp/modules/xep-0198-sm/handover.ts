/**
 * XEP-0198 resumption on another cluster node: the resumption id names the
 * node holding the session, and the SM state travels as plain data.
 *
 * The id is `<node id, base64url>.<18 random bytes, base64url>`: the node part
 * only says where to ask (a client can make a node ask any other node, which
 * answers nothing unless the random part, the account and 'h' all match); the
 * random part keeps it unguessable. The node id is visible to the client, as a
 * host name in `location` would be.
 *
 * The node that receives `<resume/>` for an id of another node sends it a
 * HandoverRequest (`ServerApi.nodeRequest`, topic HANDOVER_TOPIC). The holder
 * checks it, snapshots the session (`snapshot`), detaches it from its
 * connection (`ClientSession.suspend`) and answers; the new node binds the same
 * full JID and rebuilds the state (`restore`). The bind's kick
 * ('session/replaced') tells the holder the hand-over took: it passes on what
 * reached the session since the snapshot and ends it locally without telling
 * modules (`ClientSession.handOver`). No kick in time means the asker gave up:
 * the holder ends the session as one that timed out.
 */
import { randomBytes } from 'node:crypto';
import type { XmlElement } from '../../../util/xml.js';
import { ARCHIVE_QUERIED, CARBONS_ENABLED, DIRECTED_PRESENCE, LAST_DIRECTED, type ClientSession } from '../../session.js';
import { parseXml } from '../../stream/parse-xml.js';
import { SmState, u32 } from './state.js';

export const HANDOVER_TOPIC = 'xep-0198/handover';

export function newResumeId(nodeId: string): string {
  return `${Buffer.from(nodeId).toString('base64url')}.${randomBytes(18).toString('base64url')}`;
}

/** The node that issued a resumption id, or null when it has no node part. */
export function nodeOfResumeId(id: string): string | null {
  const dot = id.indexOf('.');
  if (dot <= 0) return null;
  const node = Buffer.from(id.slice(0, dot), 'base64url').toString();
  return node === '' ? null : node;
}

export interface HandoverRequest {
  previd: string;
  /** Account of the stream asking: the holder refuses a session of another account. */
  bare: string;
  /** The client's 'h' from `<resume/>`; the holder refuses one beyond what it sent. */
  h: number;
  /** Time (ms, sender's clock) after which the asker has given up: the holder then keeps the session. */
  deadline: number;
  /** How long (ms) the asker waits for the answer: the holder keeps the session that long, and a margin, for the asker to bind it. */
  waitMs?: number;
}

/** What the holder sends back: the session, or why not (`sent` when 'h' was too high; `h` when it ended already). */
export type HandoverAnswer = { ok: true; session: SessionSnapshot } | { ok: false; h?: number; sent?: number };

/** A session's XEP-0198 state and what else the new node needs to continue it. */
export interface SessionSnapshot {
  full: string;
  /** Inbound 'h': stanzas the server handled from the client. */
  hIn: number;
  acked: number;
  /** Unacknowledged stanzas, serialised, oldest first, with the time each was first sent. */
  queue: string[];
  queuedAt: number[];
  maxSeconds: number;
  priority: number | null;
  presence: string | null;
  interested: boolean;
  carbons: boolean;
  /** The client caught up from its archive (ARCHIVE_QUERIED); absent from nodes that predate it. */
  archiveQueried?: boolean;
  /**
   * Whoever the session sent directed presence to (DIRECTED_PRESENCE, LAST_DIRECTED), oldest first: without
   * it, they would never hear the session go unavailable (RFC 6121 §4.6.3), and MUC rooms would keep it as a
   * ghost occupant holding its nick. No longer than the presence module let the set grow on the holder
   * (presence.maxDirected); the node resuming the session applies its own, which may be lower, on
   * 'session/resumed' (rfc6121-presence/directed.ts, capResumed). Absent when there are none, and from nodes
   * that predate it.
   */
  directed?: DirectedTarget[];
}

/** One directed-presence target: the last presence sent to it (serialised), or `room` for a MUC room joined. */
export interface DirectedTarget {
  to: string;
  sent?: string;
  room?: true;
}

export function snapshot(session: ClientSession, state: SmState): SessionSnapshot {
  return {
    full: session.jid.full,
    hIn: state.handled(session.stanzasIn),
    acked: state.acked,
    queue: state.queue.map((el) => el.toString()),
    queuedAt: [...state.queuedAt],
    maxSeconds: state.maxSeconds,
    priority: session.priority,
    presence: session.presence === null ? null : session.presence.toString(),
    interested: session.interested,
    carbons: session.get(CARBONS_ENABLED) === true,
    archiveQueried: session.get(ARCHIVE_QUERIED) === true,
    ...directedOf(session),
  };
}

function directedOf(session: ClientSession): { directed?: DirectedTarget[] } {
  const set = session.get(DIRECTED_PRESENCE);
  if (set === undefined || set.size === 0) return {};
  const last = session.get(LAST_DIRECTED);
  const directed: DirectedTarget[] = [];
  for (const to of set) {
    const sent = last?.get(to);
    directed.push(sent === null ? { to, room: true } : sent === undefined ? { to } : { to, sent: sent.toString() });
  }
  return { directed };
}

/** The holder's DIRECTED_PRESENCE and LAST_DIRECTED, in the same order: the newest nick in a room stays last. */
function restoreDirected(session: ClientSession, directed: readonly DirectedTarget[]): void {
  const set = new Set<string>();
  const last = new Map<string, XmlElement | null>();
  for (const t of directed) {
    set.add(t.to);
    if (t.room === true) last.set(t.to, null);
    else if (t.sent !== undefined) last.set(t.to, parseXml(t.sent));
  }
  session.set(DIRECTED_PRESENCE, set);
  session.set(LAST_DIRECTED, last);
}

/** Sets the snapshot's session fields on `session` and returns its SM state, rebased on the new session's inbound counter. */
export function restore(session: ClientSession, snap: SessionSnapshot, previd: string): SmState {
  session.priority = snap.priority;
  session.presence = snap.presence === null ? null : parseXml(snap.presence);
  session.interested = snap.interested;
  if (snap.carbons) session.set(CARBONS_ENABLED, true);
  if (snap.archiveQueried === true) session.set(ARCHIVE_QUERIED, true);
  // Before the bind that follows: the cluster session table's entry for the session lists them from there.
  if (snap.directed !== undefined && snap.directed.length > 0) restoreDirected(session, snap.directed);
  const state = new SmState(previd, true, snap.maxSeconds, u32(session.stanzasIn - snap.hIn));
  state.acked = snap.acked;
  for (let i = 0; i < snap.queue.length; i++) {
    const el: XmlElement = parseXml(snap.queue[i]!);
    state.push(el, snap.queuedAt[i] ?? Date.now());
  }
  state.sinceRequest = 0;
  return state;
}
