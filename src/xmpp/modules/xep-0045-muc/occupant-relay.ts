import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { NS_MUC_USER, NS_PING, NS_SID, NS_VCARD } from './ns.js';
import { occupantJid } from './occupant-presence.js';
import type { RoomOutput } from './room-output.js';
import type { Occupant, Room } from './room.js';

/**
 * What occupants send one another through the room's occupant JIDs: private
 * messages (§7.5) and iqs (§6.7, XEP-0410 self-pings), each passed on under
 * the sender's occupant JID so that no real JID leaks; and the content of an
 * occupant's messages as the room carries it on (groupchat too).
 */

/**
 * What an occupant's message carries on through the room: everything but
 * stanza-ids (only the room's own are trusted) and `<x/>` in the muc#user
 * namespace, which is the room's to write: an occupant could otherwise put an
 * `<item jid=… affiliation='owner'/>` in it for others and the archive to
 * believe (XEP-0313 §9 asks for it to be stripped).
 */
export function occupantContent(stanza: XmlElement): (XmlElement | string)[] {
  const out: (XmlElement | string)[] = [];
  for (const c of stanza.children) {
    if (typeof c === 'string') out.push(c);
    else if (!((c.name === 'stanza-id' && c.attrs.xmlns === NS_SID) || (c.name === 'x' && c.attrs.xmlns === NS_MUC_USER))) out.push(c.clone());
  }
  return out;
}

/** A private message (§7.5) from occupant `o` to the nick it was sent to, as the room's allowpm lets it. */
export async function relayPrivateMessage(out: RoomOutput, room: Room, o: Occupant, ev: RouteEvent): Promise<void> {
  const { stanza, to } = ev;
  if (stanza.attrs.type === 'groupchat') throw new StanzaError('bad-request', 'private messages cannot be of type groupchat');
  const target = room.occupants.get(to.resource);
  if (target === undefined) throw new StanzaError('item-not-found', 'no occupant with that nickname');
  const pm = room.config.allowPm;
  if (pm === 'none' || (pm === 'moderators' && o.role !== 'moderator') || (pm === 'participants' && o.role === 'visitor')) throw new StanzaError('forbidden', 'private messages are not allowed here');
  for (const full of target.sessions.keys()) {
    const copy = x('message', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, o.nick), to: full }, ...occupantContent(stanza), x('x', { xmlns: NS_MUC_USER }));
    await out.send(out.relayed(room, o, copy));
  }
}

/** An iq to an occupant JID, or the reply to one (`room`: the room if this node has it in memory). */
export async function relayOccupantIq(out: RoomOutput, room: Room | undefined, ev: RouteEvent): Promise<void> {
  const { stanza, from, to } = ev;
  const type = stanza.attrs.type;
  const target = room?.occupants.get(to.resource);
  if (type === 'result' || type === 'error') {
    // A reply from an occupant to another (forwarded earlier): it goes back under the occupant JIDs.
    if (room === undefined || target === undefined) return;
    const sender = room.occupantOf(from.full) ?? room.occupantByBare(from.bare);
    if (sender === undefined) return;
    const full = [...target.sessions.keys()][0]!;
    await out.send(x('iq', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, sender.nick), to: full }, ...stanza.children.map((c) => (typeof c === 'string' ? c : c.clone()))));
    return;
  }
  const payload = stanza.elements()[0];
  const sender = room?.occupantOf(from.full);
  if (room === undefined || sender === undefined) {
    // XEP-0410: a client that is not joined learns it from not-acceptable; §6.7: other requests are bad-request.
    if (payload?.name === 'ping' && payload.attrs.xmlns === NS_PING) throw new StanzaError('not-acceptable', 'you are not joined to this room');
    throw new StanzaError('bad-request', 'only occupants may send requests to occupants');
  }
  // XEP-0410 self-ping: answered by the room.
  if (payload?.name === 'ping' && payload.attrs.xmlns === NS_PING && sender.nick === to.resource) return out.iqResult(ev);
  if (target === undefined) throw new StanzaError('item-not-found', 'no occupant with that nickname');
  // vCards are the account's (XEP-0153 avatars in rooms): asked of the bare JID.
  const isVcard = payload?.name === 'vCard' && payload.attrs.xmlns === NS_VCARD;
  const dest = isVcard ? target.bare : [...target.sessions.keys()][0]!;
  await out.send(x('iq', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, sender.nick), to: dest }, ...stanza.children.map((c) => (typeof c === 'string' ? c : c.clone()))));
}
