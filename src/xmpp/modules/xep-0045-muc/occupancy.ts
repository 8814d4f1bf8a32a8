// An occupant's membership of a room (join, rejoin, nick change, leave): the one part of MucService that shapes who is in a room.
import type { Jid } from '../../../util/jid.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { delayElement } from '../../delay.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import { historyMessages } from './history.js';
import { NS_MUC } from './ns.js';
import { occupantJid, relayedChildren } from './occupant-presence.js';
import { affRank, type Occupant, type Room } from './room.js';
import type { RoomOutput } from './room-output.js';
import type { RoomRegistry } from './room-registry.js';
import type { MucOptions } from './service.js';

/** Whether `bare` may be in the room as `nick`: nobody else registered it (§7.10). */
function nickFree(room: Room, nick: string, bare: string): boolean {
  const holder = room.nickReservedBy(nick);
  return holder === undefined || holder === bare;
}

/**
 * Occupants joining, changing nick and leaving (XEP-0045 §7.2, §7.6, §7.14).
 * Run in the room's turn by MucService, which also calls `leave` for an
 * occupant whose client or server bounced a message (a "ghost", status 333).
 */
export class Occupancy {
  constructor(
    private readonly server: ServerApi,
    private readonly rooms: RoomRegistry,
    private readonly out: RoomOutput,
    private readonly creation: MucOptions['creation'],
    private readonly archive: ArchiveStore | null,
  ) {}

  /** Presence to `room@service/nick`: a join, a presence update, a nick change or a leave. */
  async presence(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    if (type === 'error') {
      // The occupant's client or server bounced something: it is gone (a "ghost"), and the room says why with status 333.
      const room = this.rooms.loaded(to.bare);
      const o = room?.occupantOf(from.full);
      if (room !== undefined && o !== undefined) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    if (type !== undefined && type !== 'unavailable') return; // subscriptions and probes have no meaning for a room
    const room = await this.rooms.get(to.bare);
    const o = room?.occupantOf(from.full);
    if (type === 'unavailable') {
      if (room !== undefined && o !== undefined) await this.leave(room, o, from.full, stanza, []);
      return;
    }
    if (room !== undefined && o !== undefined) {
      if (o.nick === to.resource && stanza.getChild('x', NS_MUC) !== undefined) return this.rejoin(ev, room, o);
      if (o.nick === to.resource) {
        o.sessions.set(from.full, stanza);
        o.presence = stanza;
        return this.out.broadcastPresence(room, o, { reflect: { full: from.full, id: stanza.attrs.id } });
      }
      return this.changeNick(ev, room, o);
    }
    return this.join(ev, room);
  }

  /**
   * Unavailable presence to the room's bare JID from a client in the room:
   * that client leaves, as if it had been sent to its nick. §7.14 names
   * room@service/nick, but aioxmpp's Room.leave() sends it to the room and
   * Prosody accepts it; answered with jid-malformed, such a client waits for
   * its own unavailable for ever and stays in the room as a ghost. False when
   * the sender is not in the room (nothing to leave).
   */
  async leaveFromRoomJid(ev: RouteEvent): Promise<boolean> {
    const room = this.rooms.loaded(ev.to.bare);
    const o = room?.occupantOf(ev.from.full);
    if (room === undefined || o === undefined) return false;
    await this.leave(room, o, ev.from.full, ev.stanza, []);
    return true;
  }

  private async join(ev: RouteEvent, existing: Room | undefined): Promise<void> {
    const { stanza, from, to } = ev;
    const nick = to.resource;
    const mucX = stanza.getChild('x', NS_MUC);
    let room = existing;
    let created = false;
    if (room === undefined) {
      if (!this.mayCreate(from)) throw new StanzaError('not-allowed', 'you may not create rooms on this service');
      room = this.rooms.create(to.bare);
      room.setAffiliation(from.bare, 'owner');
      // §10.1.1: a room created by a MUC-aware client stays locked until configured; gc-1.0 clients get an instant room.
      room.locked = mucX !== undefined;
      created = true;
    }
    const aff = room.affiliation(from.bare);
    if (room.locked && aff !== 'owner') throw new StanzaError('item-not-found', 'this room is being created');
    if (aff === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room');
    const role = room.defaultRole(aff);
    if (role === 'none') throw new StanzaError('registration-required', 'this room is members-only');
    const same = room.occupants.get(nick);
    if (same !== undefined && same.bare !== from.bare) throw new StanzaError('conflict', 'that nickname is in use');
    // §7.12: a nick another user registered (§7.10) is theirs, also while they are away.
    if (!nickFree(room, nick, from.bare)) throw new StanzaError('conflict', 'that nickname is reserved by another user');
    if (room.config.password !== '' && aff !== 'owner' && (mucX?.getChildText('password') ?? '') !== room.config.password) {
      throw new StanzaError('not-authorized', 'a password is required');
    }
    if (same === undefined && room.config.maxUsers > 0 && room.occupants.size >= room.config.maxUsers && affRank(aff) < affRank('admin')) {
      throw new StanzaError('service-unavailable', 'the room is full', 'wait');
    }
    // A persistent instant room (§10.1.1) is never configured, so is stored now, before anyone is told of it.
    if (created) await this.rooms.persistCreated(room);
    const o: Occupant = same ?? { nick, bare: from.bare, sessions: new Map(), presence: stanza, role };
    room.addSession(o, from.full, stanza);
    // Existing occupants to the newcomer, then the newcomer to everyone (§7.2.3), then history and subject.
    const newcomer = same === undefined;
    for (const other of room.occupants.values()) {
      if (other === o) continue;
      await this.out.send(this.out.presenceOf(room, other, o, from.full, {}));
    }
    const selfCodes: number[] = [];
    const reflect = { full: from.full, id: stanza.attrs.id };
    if (room.config.whois === 'anyone') selfCodes.push(100);
    if (room.config.archiving && this.archive !== null) selfCodes.push(170);
    if (created) selfCodes.push(201);
    if (newcomer) {
      for (const r of room.occupants.values()) {
        for (const full of r.sessions.keys()) await this.out.send(this.out.presenceOf(room, o, r, full, full === from.full ? { selfCodes, reflect } : {}));
      }
    } else {
      await this.out.send(this.out.presenceOf(room, o, o, from.full, { selfCodes, reflect }));
    }
    for (const m of historyMessages(room.jid, room.history, from.full, mucX?.getChild('history'))) await this.out.send(m);
    const { text, nick: setter, setMs } = room.subject;
    const subjectFrom = setter !== '' ? occupantJid(room, setter) : room.jid;
    // XEP-0045 §7.2.15 (1.34): stamped with when it was set, from the room, so a client can tell an old topic from news.
    const stamp = setMs === undefined ? [] : [delayElement(setMs, room.jid)];
    await this.out.send(x('message', { type: 'groupchat', from: subjectFrom, to: from.full, id: randomHex(6) }, x('subject', null, text), ...stamp));
  }

  /**
   * A join presence from a session the room holds as joined: its client lost
   * track of the room (a reconnect, a failed XEP-0410 self-ping) and joins
   * again without leaving. It gets what a join gets (occupants, its own
   * presence, history, subject); the others only see its presence change.
   */
  private async rejoin(ev: RouteEvent, room: Room, o: Occupant): Promise<void> {
    await this.join(ev, room);
    for (const r of room.occupants.values()) {
      for (const full of r.sessions.keys()) if (full !== ev.from.full) await this.out.send(this.out.presenceOf(room, o, r, full, {}));
    }
  }

  private async changeNick(ev: RouteEvent, room: Room, o: Occupant): Promise<void> {
    const nick = ev.to.resource;
    const taken = room.occupants.get(nick);
    if (taken !== undefined) throw new StanzaError('conflict', 'that nickname is in use');
    if (!nickFree(room, nick, o.bare)) throw new StanzaError('conflict', 'that nickname is reserved by another user');
    if (o.sessions.size > 1) throw new StanzaError('not-acceptable', 'change the nickname from one client only while several are joined');
    // §7.6: unavailable from the old nick with 303, available from the new one.
    await this.out.broadcastPresence(room, o, { type: 'unavailable', codes: [303], nick, base: x('presence', { type: 'unavailable' }) });
    room.removeOccupant(o);
    const old = o.nick;
    o.nick = nick;
    room.addSession(o, ev.from.full, ev.stanza);
    if (room.subject.nick === old) room.subject = { ...room.subject, nick };
    await this.out.broadcastPresence(room, o, { reflect: { full: ev.from.full, id: ev.stanza.attrs.id } });
  }

  /** One session of `o` leaves (`codes` 333 when its client or server bounced something); the room is dropped once unused. */
  async leave(room: Room, o: Occupant, full: string, stanza: XmlElement, codes: number[]): Promise<void> {
    const shown = o.presence;
    const last = room.removeSession(o, full);
    const unavailable = x('presence', { type: 'unavailable' }, ...relayedChildren(stanza));
    if (!last) {
      // Only that client leaves: it hears its own unavailable; if the room showed its presence, it now shows a remaining one's.
      await this.out.send(this.out.presenceOf(room, o, o, full, { type: 'unavailable', base: unavailable, codes, reflect: { full, id: stanza.attrs.id } }));
      if (o.presence !== shown) await this.out.broadcastPresence(room, o);
      return;
    }
    // §7.14: those who may see real JIDs see who left, though the session is gone from the occupant by now.
    await this.out.broadcastPresence(room, o, { type: 'unavailable', base: unavailable, codes, realJid: full });
    await this.out.send(this.out.presenceOf(room, o, o, full, { type: 'unavailable', base: unavailable, codes, reflect: { full, id: stanza.attrs.id } }));
    await this.rooms.dropIfUnused(room);
  }

  private mayCreate(from: Jid): boolean {
    switch (this.creation) {
      case 'anyone':
        return true;
      case 'local':
        return from.local !== '' && this.server.isLocalDomain(from.domain);
      case 'admins':
        return this.server.accounts.isAdmin(from.toBare());
    }
  }
}
