import { x, type XmlElement } from '../../../util/xml.js';
import { NS_STANZAS } from '../../errors.js';
import { NS_MUC, NS_MUC_USER } from './ns.js';
import type { Occupant, Room } from './room.js';

/** Who an occupant's presence goes to, with what. */
export interface PresenceExtra {
  type?: 'unavailable';
  /** Status codes for every recipient. */
  codes?: number[];
  /** Status codes for the occupant's own sessions only (110 is added for them anyway). */
  selfCodes?: number[];
  /** New nick (303). */
  nick?: string;
  actor?: string;
  reason?: string;
  destroy?: XmlElement;
  /** Presence to use instead of the occupant's own (unavailable with status text). */
  base?: XmlElement;
  /** The session whose presence caused this one gets it back with its stanza id (clients match their join/leave by it). */
  reflect?: { full: string; id: string | undefined };
  /** The real JID to show where whois allows, when it is no longer among the occupant's sessions (it just left). */
  realJid?: string;
}

export function occupantJid(room: Room, nick: string): string {
  return `${room.jid}/${nick}`;
}

/** The children of a presence a room relays: everything but MUC payloads the client addressed to the room. */
export function relayedChildren(p: XmlElement): XmlElement[] {
  return p.elements().filter((c) => c.attrs.xmlns !== NS_MUC && c.attrs.xmlns !== NS_MUC_USER).map((c) => c.clone());
}

/**
 * The presence of `o` as `recipient` (null: someone outside the room) sees
 * it at `toFull`: the real JID only where the room's whois allows (§7.2.3),
 * and the status codes of §15.6.
 */
export function occupantPresence(room: Room, o: Occupant, recipient: Occupant | null, toFull: string, extra: PresenceExtra): XmlElement {
  const self = recipient === o;
  const base = extra.base ?? o.presence;
  const id = extra.reflect !== undefined && extra.reflect.full === toFull ? extra.reflect.id : undefined;
  const p = x('presence', { from: occupantJid(room, o.nick), to: toFull, type: extra.type, id }, ...(extra.type === 'unavailable' && extra.base === undefined ? [] : relayedChildren(base)));
  const showJid = self || room.config.whois === 'anyone' || (recipient !== null && recipient.role === 'moderator');
  const realJid = self ? toFull : (extra.realJid ?? [...o.sessions.keys()][0]);
  const item = x('item', { affiliation: room.affiliation(o.bare), role: extra.type === 'unavailable' && extra.nick === undefined ? 'none' : o.role, jid: showJid ? realJid : undefined, nick: extra.nick });
  if (extra.actor !== undefined) item.append(x('actor', { nick: extra.actor }));
  if (extra.reason !== undefined) item.append(x('reason', null, extra.reason));
  const ux = x('x', { xmlns: NS_MUC_USER }, item);
  if (extra.destroy !== undefined) ux.append(extra.destroy.clone());
  const codes = new Set(extra.codes ?? []);
  if (self) {
    codes.add(110);
    for (const c of extra.selfCodes ?? []) codes.add(c);
  }
  for (const c of [...codes].sort((a, b) => a - b)) ux.append(x('status', { code: String(c) }));
  p.append(ux);
  return p;
}

/** Errors that say an occupant's client or server is no longer there (XEP-0045 status 333), as opposed to a refusal. */
const GONE_CONDITIONS = new Set(['gone', 'item-not-found', 'recipient-unavailable', 'redirect', 'remote-server-not-found', 'remote-server-timeout', 'service-unavailable']);

export function occupantIsGone(error: XmlElement): boolean {
  const e = error.getChild('error');
  if (e === undefined) return false;
  return e.children.some((c) => typeof c !== 'string' && c.attrs.xmlns === NS_STANZAS && GONE_CONDITIONS.has(c.name));
}
