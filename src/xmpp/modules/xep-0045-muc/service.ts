import { tryParseJid, type Jid } from '../../../util/jid.js';
import { KeyLocks } from '../../../util/key-locks.js';
import type { Logger } from '../../../util/log.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import type { ConfigDefaults } from './config.js';
import { historyMessages } from './history.js';
import { mediatedInvitations } from './invitations.js';
import type { RoomActions, RoomExtension } from './extensions.js';
import { NS_MUC, NS_MUC_USER, NS_SID } from './ns.js';
import { occupantIsGone, occupantJid, relayedChildren } from './occupant-presence.js';
import { occupantContent, relayOccupantIq, relayPrivateMessage } from './occupant-relay.js';
import { RoomIq } from './room-iq.js';
import { RoomOutput } from './room-output.js';
import { RoomRegistry } from './room-registry.js';
import { serviceDomainAnswer } from './service-domain.js';
import { affRank, type Occupant, type Room } from './room.js';
import type { RoomStore } from './store.js';
import { voiceRequest, voiceRequestForm } from './voice-request.js';

export interface MucOptions extends ConfigDefaults {
  name: string;
  creation: 'anyone' | 'local' | 'admins';
  defaultPageSize: number;
  maxPageSize: number;
  /** Most room archive messages counted for an RSM max=0 query (xep-0313-mam/count.ts). */
  countLimit: number;
}

function mucError(condition: ConstructorParameters<typeof StanzaError>[0], text?: string): StanzaError {
  return new StanzaError(condition, text);
}

/**
 * XEP-0045 Multi-User Chat: every room of the service domains on this node.
 * Stanzas for a room are handled one at a time (the room's turn), so that
 * what the occupants see happens in one order.
 *
 * This class takes each stanza to its handler and holds what occupants do:
 * join, change nick, leave, speak and invite. Beside
 * it, one file per part: iqs to the room, its configuration and admin lists
 * (room-iq.ts), the rooms this node runs (room-registry.ts), what a room
 * sends (room-output.ts), the presence an occupant is shown with
 * (occupant-presence.ts), what occupants send one another: private
 * messages and iqs (occupant-relay.ts), history (history.ts), muc#admin checks (admin.ts),
 * invitations (invitations.ts), voice requests (voice-request.ts), the room
 * archive (room-archive.ts) and the service domain's own answers
 * (service-domain.ts).
 */
export class MucService {
  private readonly rooms: RoomRegistry;
  private readonly out: RoomOutput;
  private readonly roomIq: RoomIq;
  private readonly actions: RoomActions;
  /** One room's stanzas are handled one at a time, in order (also while it is loaded or created). */
  private readonly turns = new KeyLocks();

  constructor(
    private readonly server: ServerApi,
    private readonly store: RoomStore,
    private readonly log: Logger,
    private readonly opts: MucOptions,
    private readonly archive: ArchiveStore | null,
  ) {
    this.rooms = new RoomRegistry(store, opts);
    this.out = new RoomOutput(server, log);
    this.actions = { broadcast: (room, stanza) => this.out.broadcast(room, stanza), relay: (room, o, el) => this.out.relayed(room, o, el), archive };
    this.roomIq = new RoomIq(this.rooms, this.out, store, archive, opts, this.actions);
  }

  /** Adds what another module gives every room (extensions.ts); returns the undo. */
  extend(extension: RoomExtension): () => void {
    const list = this.out.extensions;
    list.push(extension);
    return () => void list.splice(list.indexOf(extension), 1);
  }

  // ---- entry points --------------------------------------------------------

  /** A stanza for a service domain: handled in the room's queue; always claimed. */
  handle(ev: RouteEvent): true {
    void this.handled(ev);
    return true;
  }

  /** As `handle`, resolving once the stanza has been handled: a cluster node then knows whether it runs the room. */
  handled(ev: RouteEvent): Promise<void> {
    return this.enqueue(ev.to.bare, () => this.dispatch(ev)).catch((e: unknown) => this.log.error(`muc: handling ${ev.stanza.toString().slice(0, 300)} failed`, e));
  }

  /** Runs `work` after everything queued for the room `key`; resolves when it has run. */
  private enqueue(key: string, work: () => Promise<void>): Promise<void> {
    return this.turns.with([key], work);
  }

  /** Resolves once every stanza queued so far has been handled (tests, shutdown). */
  idle(): Promise<void> {
    return this.turns.settled();
  }

  /** A client session ended: it leaves every room it was in (§7.14). */
  sessionClosed(full: string): void {
    for (const room of this.rooms.all()) {
      const o = room.occupantOf(full);
      if (o === undefined) continue;
      const jid = tryParseJid(full);
      if (jid === null) continue;
      const stanza = x('presence', { type: 'unavailable', from: full, to: `${room.jid}/${o.nick}` });
      this.handle({ stanza, from: jid, to: tryParseJid(`${room.jid}/${o.nick}`)!, origin: null });
    }
  }

  /** Rooms in memory (tests and admin). */
  room(jid: string): Room | undefined {
    return this.rooms.loaded(jid);
  }

  /** JIDs of the rooms in memory. */
  roomJids(): string[] {
    return this.rooms.jids();
  }

  /** Calls `listener` with the JID of each room this service stops keeping (emptied, destroyed). */
  onRoomDropped(listener: (jid: string) => void): void {
    this.rooms.onDropped(listener);
  }

  /**
   * Lets go of a room another node now runs (a cluster took it over while
   * this node was cut off): its occupants here hear they were removed because
   * the service went away (status 332) and rejoin, reaching the new node. The
   * stored room is left alone.
   */
  evict(jid: string): Promise<void> {
    return this.enqueue(jid, async () => {
      const room = this.rooms.evict(jid);
      if (room === undefined) return;
      for (const o of [...room.occupants.values()]) {
        for (const full of o.sessions.keys()) await this.out.send(this.out.presenceOf(room, o, o, full, { type: 'unavailable', codes: [332] }));
      }
    });
  }

  private async dispatch(ev: RouteEvent): Promise<void> {
    const { stanza, to } = ev;
    try {
      if (to.local === '') return await this.toService(ev);
      if (to.resource === '') {
        if (stanza.name === 'iq') return await this.roomIq.handle(ev);
        if (stanza.name === 'message') return await this.roomMessage(ev);
        if (stanza.attrs.type !== 'error') throw new StanzaError('jid-malformed', 'join a room as room@service/nick');
        return;
      }
      if (stanza.name === 'presence') return await this.occupantPresence(ev);
      if (stanza.name === 'message') return await this.privateMessage(ev);
      return await relayOccupantIq(this.out, this.rooms.loaded(to.bare), ev);
    } catch (e) {
      const err = e instanceof StanzaError ? e : new StanzaError('internal-server-error');
      if (!(e instanceof StanzaError)) this.log.error(`muc: ${stanza.toString().slice(0, 300)}`, e);
      await this.reject(ev, err);
    }
  }

  /** Error reply to a stanza, from the address it was sent to. */
  reject(ev: RouteEvent, err: StanzaError): Promise<void> {
    return this.out.reject(ev, err);
  }

  // ---- rooms ---------------------------------------------------------------

  private mayCreate(from: Jid): boolean {
    switch (this.opts.creation) {
      case 'anyone':
        return true;
      case 'local':
        return from.local !== '' && this.server.isLocalDomain(from.domain);
      case 'admins':
        return this.server.accounts.isAdmin(from.toBare());
    }
  }

  // ---- the service domain --------------------------------------------------

  private async toService(ev: RouteEvent): Promise<void> {
    const { stanza } = ev;
    if (stanza.name !== 'iq') {
      if (stanza.name === 'message' && stanza.attrs.type !== 'error' && stanza.attrs.type !== 'groupchat' && stanza.attrs.type !== 'headline') throw mucError('service-unavailable');
      return;
    }
    if (stanza.attrs.type === 'set') throw mucError('service-unavailable');
    if (stanza.attrs.type !== 'get') return;
    const payload = ev.to.resource === '' ? stanza.elements()[0] : undefined;
    const featuresOfEveryRoom = this.out.extensions.flatMap((e) => e.serviceFeatures ?? []);
    await this.out.iqResult(ev, await serviceDomainAnswer(payload, this.opts.name, featuresOfEveryRoom, () => this.rooms.publicRooms(ev.to.domain)));
  }

  // ---- presence: join, update, nick change, leave ---------------------------

  private async occupantPresence(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    if (type === 'error') {
      // The occupant's client or server bounced something: treat it as gone (§7.2.? "ghost" removal, status 333 not sent).
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
    const subjectFrom = room.subject.nick !== '' ? occupantJid(room, room.subject.nick) : room.jid;
    await this.out.send(x('message', { type: 'groupchat', from: subjectFrom, to: from.full, id: randomHex(6) }, x('subject', null, room.subject.text)));
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

  private async leave(room: Room, o: Occupant, full: string, stanza: XmlElement, codes: number[]): Promise<void> {
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

  // ---- messages ------------------------------------------------------------

  private async roomMessage(ev: RouteEvent): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type ?? 'normal';
    if (type === 'error') {
      const room = this.rooms.loaded(ev.to.bare);
      const o = room?.occupantOf(from.full);
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    const room = await this.rooms.get(ev.to.bare);
    if (room === undefined || (room.locked && room.affiliation(from.bare) !== 'owner')) throw new StanzaError('item-not-found', 'no such room');
    const o = room.occupantOf(from.full);
    if (type !== 'groupchat') {
      const ux = stanza.getChild('x', NS_MUC_USER);
      if (ux !== undefined) return this.invitations(room, o, from, ux);
      const request = voiceRequestForm(stanza);
      if (request !== undefined) return voiceRequest(room, room.affiliation(from.bare), o, from.full, request, this.out);
      throw new StanzaError('not-acceptable', 'send groupchat messages to the room');
    }
    if (o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
    if (o.role === 'visitor') throw new StanzaError('forbidden', 'visitors have no voice in this room');
    const subject = stanza.getChild('subject');
    const hasBody = stanza.getChild('body') !== undefined;
    // §8.1: a <subject/> with a <body/> or a <thread/> is a message about something, not a change of the room's subject.
    const subjectChange = subject !== undefined && !hasBody && stanza.getChild('thread') === undefined;
    if (subjectChange) {
      if (!room.config.changeSubject && o.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators may change the subject');
      const before = room.subject;
      room.subject = { text: subject.getText(), nick: o.nick };
      try {
        await this.rooms.persist(room);
      } catch (e) {
        // The sender is answered with an error, which says the subject did not change: newcomers must not be shown it.
        room.subject = before;
        throw e;
      }
    }
    const out = x('message', { ...stanza.attrs, from: occupantJid(room, o.nick), to: undefined, xmlns: undefined }, ...occupantContent(stanza));
    this.out.relayed(room, o, out);
    // XEP-0313 §5.1.2 keeps subject changes with the bodies: a client reading the archive sees when the topic changed. The subject a join sends is not archived again.
    const kept = hasBody || subjectChange || this.out.extensions.some((e) => e.archives?.(stanza) === true);
    if (kept && room.config.archiving && this.archive !== null) {
      const id = await this.archive.append(room.jid, { with: o.bare, peer: occupantJid(room, o.nick), dir: 'in', xml: out.toString() });
      for (const e of this.out.extensions) if (e.archived !== undefined) await e.archived(room, o, out, id, this.actions);
      out.append(x('stanza-id', { xmlns: NS_SID, by: room.jid, id }));
    }
    if (hasBody) room.addHistory(out, o.nick);
    await this.out.broadcast(room, out);
  }

  /** §7.8.2 mediated invitations and §7.8.3 declines. */
  private async invitations(room: Room, o: Occupant | undefined, from: Jid, ux: XmlElement): Promise<void> {
    const { messages, newMembers } = mediatedInvitations(room, o, from, ux);
    // Stored first, all of them, as admin changes are (room-iq.ts): the inviter's error says nobody became a member.
    if (room.config.persistent) await this.store.saveAffiliations(room, newMembers.map((jid) => ({ jid, aff: 'member' as const })));
    for (const bare of newMembers) room.setAffiliation(bare, 'member');
    for (const m of messages) await this.out.send(m);
  }


  private async privateMessage(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const room = this.rooms.loaded(to.bare);
    const o = room?.occupantOf(from.full);
    if (stanza.attrs.type === 'error') {
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    if (room === undefined || o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
    return relayPrivateMessage(this.out, room, o, ev);
  }
}
