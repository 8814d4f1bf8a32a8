import { tryParseJid, type Jid } from '../../../util/jid.js';
import { KeyLocks } from '../../../util/key-locks.js';
import type { Logger } from '../../../util/log.js';
import { DataFormError, NS_DATA, parseForm } from '../../../util/data-form.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { errorReply, StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/api.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import { NS_MAM } from '../xep-0313-mam/query.js';
import { adminList, planAdminChanges } from './admin.js';
import { applyConfigForm, configForm, defaultConfig, roomFeatures, roomInfoForm, type ConfigDefaults, type RoomConfig } from './config.js';
import { historyMessages } from './history.js';
import { mediatedInvitations } from './invitations.js';
import type { RoomActions, RoomExtension } from './extensions.js';
import { NS_MUC, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER, NS_PING, NS_SID, NS_STABLE_ID, NS_VCARD } from './ns.js';
import { occupantIsGone, occupantJid, occupantPresence, relayedChildren, type PresenceExtra } from './occupant-presence.js';
import { queryRoomArchive } from './room-archive.js';
import { serviceDomainAnswer, type PublicRoom } from './service-domain.js';
import { affRank, Room, type Affiliation, type Occupant } from './room.js';
import type { RoomStore } from './store.js';

export interface MucOptions extends ConfigDefaults {
  name: string;
  creation: 'anyone' | 'local' | 'admins';
  defaultPageSize: number;
  maxPageSize: number;
}

function mucError(condition: ConstructorParameters<typeof StanzaError>[0], text?: string): StanzaError {
  return new StanzaError(condition, text);
}

/**
 * XEP-0045 Multi-User Chat: every room of the service domains on this node.
 * Stanzas for a room are handled one at a time (`Room.queue`), so that what
 * the occupants see happens in one order.
 *
 * This class holds what changes a room and tells its occupants: joins,
 * leaves, messages, configuration, roles. What only reads a room and builds
 * the stanzas is beside it, one file per part of the XEP: the presence an
 * occupant is shown with (occupant-presence.ts), history (history.ts),
 * muc#admin lists and checks (admin.ts), invitations (invitations.ts), the
 * room archive (room-archive.ts) and the service domain's own answers
 * (service-domain.ts).
 */
export class MucService {
  private readonly rooms = new Map<string, Room>();
  /** One room's stanzas are handled one at a time, in order (also while it is loaded or created). */
  private readonly turns = new KeyLocks();
  private readonly droppedListeners: Array<(jid: string) => void> = [];
  private readonly extensions: RoomExtension[] = [];
  private readonly actions: RoomActions;

  constructor(
    private readonly server: ServerApi,
    private readonly store: RoomStore,
    private readonly log: Logger,
    private readonly opts: MucOptions,
    private readonly archive: ArchiveStore | null,
  ) {
    this.actions = { broadcast: (room, stanza) => this.broadcast(room, stanza), relay: (room, o, el) => this.relayed(room, o, el), archive };
  }

  /** Adds what another module gives every room (extensions.ts); returns the undo. */
  extend(extension: RoomExtension): () => void {
    this.extensions.push(extension);
    return () => void this.extensions.splice(this.extensions.indexOf(extension), 1);
  }

  /** Lets the extensions change what the room relays from `o`. */
  private relayed(room: Room, o: Occupant, stanza: XmlElement): XmlElement {
    for (const e of this.extensions) e.relay?.(room, o, stanza);
    return stanza;
  }

  private presenceOf(room: Room, o: Occupant, recipient: Occupant | null, toFull: string, extra: PresenceExtra): XmlElement {
    return this.relayed(room, o, occupantPresence(room, o, recipient, toFull, extra));
  }

  // ---- entry points --------------------------------------------------------

  /** A stanza for a service domain: handled in the room's queue; always claimed. */
  handle(ev: RouteEvent): true {
    void this.enqueue(ev.to.bare, () => this.dispatch(ev)).catch((e: unknown) => this.log.error(`muc: handling ${ev.stanza.toString().slice(0, 300)} failed`, e));
    return true;
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
    for (const room of this.rooms.values()) {
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
    return this.rooms.get(jid);
  }

  /** JIDs of the rooms in memory. */
  roomJids(): string[] {
    return [...this.rooms.keys()];
  }

  /** Calls `listener` with the JID of each room this service stops keeping (emptied, destroyed). */
  onRoomDropped(listener: (jid: string) => void): void {
    this.droppedListeners.push(listener);
  }

  /**
   * Lets go of a room another node now runs (a cluster took it over while
   * this node was cut off): its occupants here hear they were removed because
   * the service went away (status 332) and rejoin, reaching the new node. The
   * stored room is left alone.
   */
  evict(jid: string): Promise<void> {
    return this.enqueue(jid, async () => {
      const room = this.rooms.get(jid);
      if (room === undefined) return;
      this.rooms.delete(jid);
      for (const o of [...room.occupants.values()]) {
        for (const full of o.sessions.keys()) await this.send(this.presenceOf(room, o, o, full, { type: 'unavailable', codes: [332] }));
      }
    });
  }

  private async dispatch(ev: RouteEvent): Promise<void> {
    const { stanza, to } = ev;
    try {
      if (to.local === '') return await this.toService(ev);
      if (to.resource === '') {
        if (stanza.name === 'iq') return await this.roomIq(ev);
        if (stanza.name === 'message') return await this.roomMessage(ev);
        if (stanza.attrs.type !== 'error') throw new StanzaError('jid-malformed', 'join a room as room@service/nick');
        return;
      }
      if (stanza.name === 'presence') return await this.occupantPresence(ev);
      if (stanza.name === 'message') return await this.privateMessage(ev);
      return await this.occupantIq(ev);
    } catch (e) {
      const err = e instanceof StanzaError ? e : new StanzaError('internal-server-error');
      if (!(e instanceof StanzaError)) this.log.error(`muc: ${stanza.toString().slice(0, 300)}`, e);
      await this.reject(ev, err);
    }
  }

  // ---- sending -------------------------------------------------------------

  private async send(stanza: XmlElement): Promise<void> {
    try {
      await this.server.route(stanza);
    } catch (e) {
      this.log.warn(`muc: could not route ${stanza.toString().slice(0, 200)}`, e);
    }
  }

  /** Error reply to a stanza, from the address it was sent to. */
  async reject(ev: RouteEvent, err: StanzaError): Promise<void> {
    const s = ev.stanza;
    if (s.attrs.type === 'error' || (s.name === 'iq' && s.attrs.type === 'result')) return;
    const reply = errorReply(s, err);
    reply.attrs.from = ev.to.full;
    reply.attrs.to = ev.from.full;
    if (s.name === 'presence') reply.children.unshift(x('x', { xmlns: NS_MUC }));
    await this.send(reply);
  }

  private async iqResult(ev: RouteEvent, payload?: XmlElement): Promise<void> {
    await this.send(x('iq', { type: 'result', id: ev.stanza.attrs.id, from: ev.to.full, to: ev.from.full }, payload));
  }

  /** Sends `o`'s presence to every occupant (and to `o`'s own sessions, also when `o` has just left). */
  private async broadcastPresence(room: Room, o: Occupant, extra: PresenceExtra = {}): Promise<void> {
    const recipients = [...room.occupants.values()];
    if (!room.occupants.has(o.nick) || room.occupants.get(o.nick) !== o) recipients.push(o);
    for (const r of recipients) {
      for (const full of r.sessions.keys()) await this.send(this.presenceOf(room, o, r, full, extra));
    }
  }

  /** Sends a stanza from the room to every occupant's sessions. */
  private async broadcast(room: Room, stanza: XmlElement): Promise<void> {
    for (const r of room.occupants.values()) {
      for (const full of r.sessions.keys()) {
        const copy = stanza.clone();
        copy.attrs.to = full;
        await this.send(copy);
      }
    }
  }

  /** A message from the room (status codes 104, 170…) to every occupant. */
  private async roomNotice(room: Room, codes: number[]): Promise<void> {
    await this.broadcast(room, x('message', { type: 'groupchat', from: room.jid, id: randomHex(6) }, x('x', { xmlns: NS_MUC_USER }, ...codes.map((c) => x('status', { code: String(c) })))));
  }

  // ---- rooms ---------------------------------------------------------------

  private configDefaults(partial: Partial<RoomConfig> = {}): RoomConfig {
    return { ...defaultConfig(this.opts), ...partial };
  }

  private async getRoom(jid: string): Promise<Room | undefined> {
    const inMemory = this.rooms.get(jid);
    if (inMemory !== undefined) return inMemory;
    const loaded = await this.store.load(jid, (c) => this.configDefaults(c));
    if (loaded !== undefined) this.rooms.set(jid, loaded);
    return loaded;
  }

  private async persist(room: Room): Promise<void> {
    if (room.config.persistent && !room.locked) await this.store.save(this.serviceOf(room), room);
  }

  private serviceOf(room: Room): string {
    return room.jid.slice(room.jid.indexOf('@') + 1);
  }

  /** Forgets a room that is neither persistent nor occupied. */
  private async maybeDrop(room: Room): Promise<void> {
    if (room.occupants.size > 0 || (room.config.persistent && !room.locked)) return;
    this.forget(room);
    await this.store.remove(this.serviceOf(room), room.jid);
  }

  private forget(room: Room): void {
    this.rooms.delete(room.jid);
    for (const listener of this.droppedListeners) listener(room.jid);
  }

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
    await this.iqResult(ev, await serviceDomainAnswer(payload, this.opts.name, () => this.publicRooms(ev.to.domain)));
  }

  /** The rooms of a service domain its disco#items lists: stored public ones, as the rooms in memory now are. */
  private async publicRooms(domain: string): Promise<PublicRoom[]> {
    const items = new Map<string, string>();
    for (const r of await this.store.listed(domain)) if (r.public) items.set(r.jid, r.name);
    for (const r of this.rooms.values()) {
      if (this.serviceOf(r) !== domain) continue;
      if (r.config.public && !r.locked) items.set(r.jid, r.config.name);
      else items.delete(r.jid);
    }
    return [...items].map(([jid, name]) => ({ jid, name }));
  }


  // ---- presence: join, update, nick change, leave ---------------------------

  private async occupantPresence(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    if (type === 'error') {
      // The occupant's client or server bounced something: treat it as gone (§7.2.? "ghost" removal, status 333 not sent).
      const room = this.rooms.get(to.bare);
      const o = room?.occupantOf(from.full);
      if (room !== undefined && o !== undefined) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    if (type !== undefined && type !== 'unavailable') return; // subscriptions and probes have no meaning for a room
    const room = await this.getRoom(to.bare);
    const o = room?.occupantOf(from.full);
    if (type === 'unavailable') {
      if (room !== undefined && o !== undefined) await this.leave(room, o, from.full, stanza, []);
      return;
    }
    if (room !== undefined && o !== undefined) {
      if (o.nick === to.resource) {
        o.sessions.set(from.full, stanza);
        o.presence = stanza;
        return this.broadcastPresence(room, o, { reflect: { full: from.full, id: stanza.attrs.id } });
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
      room = new Room(to.bare, this.configDefaults());
      room.setAffiliation(from.bare, 'owner');
      // §10.1.1: a room created by a MUC-aware client stays locked until configured; gc-1.0 clients get an instant room.
      room.locked = mucX !== undefined;
      this.rooms.set(room.jid, room);
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
    const o: Occupant = same ?? { nick, bare: from.bare, sessions: new Map(), presence: stanza, role };
    room.addSession(o, from.full, stanza);
    // Existing occupants to the newcomer, then the newcomer to everyone (§7.2.3), then history and subject.
    const newcomer = same === undefined;
    for (const other of room.occupants.values()) {
      if (other === o) continue;
      await this.send(this.presenceOf(room, other, o, from.full, {}));
    }
    const selfCodes: number[] = [];
    const reflect = { full: from.full, id: stanza.attrs.id };
    if (room.config.whois === 'anyone') selfCodes.push(100);
    if (room.config.archiving && this.archive !== null) selfCodes.push(170);
    if (created) selfCodes.push(201);
    if (newcomer) {
      for (const r of room.occupants.values()) {
        for (const full of r.sessions.keys()) await this.send(this.presenceOf(room, o, r, full, full === from.full ? { selfCodes, reflect } : {}));
      }
    } else {
      await this.send(this.presenceOf(room, o, o, from.full, { selfCodes, reflect }));
    }
    for (const m of historyMessages(room.jid, room.history, from.full, mucX?.getChild('history'))) await this.send(m);
    const subjectFrom = room.subject.nick !== '' ? occupantJid(room, room.subject.nick) : room.jid;
    await this.send(x('message', { type: 'groupchat', from: subjectFrom, to: from.full, id: randomHex(6) }, x('subject', null, room.subject.text)));
  }

  private async changeNick(ev: RouteEvent, room: Room, o: Occupant): Promise<void> {
    const nick = ev.to.resource;
    const taken = room.occupants.get(nick);
    if (taken !== undefined) throw new StanzaError('conflict', 'that nickname is in use');
    if (o.sessions.size > 1) throw new StanzaError('not-acceptable', 'change the nickname from one client only while several are joined');
    // §7.6: unavailable from the old nick with 303, available from the new one.
    await this.broadcastPresence(room, o, { type: 'unavailable', codes: [303], nick, base: x('presence', { type: 'unavailable' }) });
    room.removeOccupant(o);
    const old = o.nick;
    o.nick = nick;
    room.addSession(o, ev.from.full, ev.stanza);
    if (room.subject.nick === old) room.subject = { ...room.subject, nick };
    await this.broadcastPresence(room, o, { reflect: { full: ev.from.full, id: ev.stanza.attrs.id } });
  }

  private async leave(room: Room, o: Occupant, full: string, stanza: XmlElement, codes: number[]): Promise<void> {
    const last = room.removeSession(o, full);
    const unavailable = x('presence', { type: 'unavailable' }, ...relayedChildren(stanza));
    if (!last) {
      // Only that client leaves: it hears its own unavailable.
      await this.send(this.presenceOf(room, o, o, full, { type: 'unavailable', base: unavailable, codes, reflect: { full, id: stanza.attrs.id } }));
      return;
    }
    await this.broadcastPresence(room, o, { type: 'unavailable', base: unavailable, codes });
    await this.send(this.presenceOf(room, o, o, full, { type: 'unavailable', base: unavailable, codes, reflect: { full, id: stanza.attrs.id } }));
    await this.maybeDrop(room);
  }

  /** Removes an occupant for a reason the room decides (kick 307, ban 301, affiliation 321, members-only 322). */
  private async expel(room: Room, o: Occupant, code: number, actor: string | undefined, reason: string | undefined): Promise<void> {
    room.removeOccupant(o);
    o.role = 'none';
    await this.broadcastPresence(room, o, { type: 'unavailable', codes: [code], actor, reason });
  }

  // ---- messages ------------------------------------------------------------

  private async roomMessage(ev: RouteEvent): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type ?? 'normal';
    if (type === 'error') {
      const room = this.rooms.get(ev.to.bare);
      const o = room?.occupantOf(from.full);
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    const room = await this.getRoom(ev.to.bare);
    if (room === undefined || (room.locked && room.affiliation(from.bare) !== 'owner')) throw new StanzaError('item-not-found', 'no such room');
    const o = room.occupantOf(from.full);
    if (type !== 'groupchat') {
      const ux = stanza.getChild('x', NS_MUC_USER);
      if (ux !== undefined) return this.invitations(room, o, from, ux);
      throw new StanzaError('not-acceptable', 'send groupchat messages to the room');
    }
    if (o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
    if (o.role === 'visitor') throw new StanzaError('forbidden', 'visitors have no voice in this room');
    const subject = stanza.getChild('subject');
    if (subject !== undefined && stanza.getChild('body') === undefined) {
      if (!room.config.changeSubject && o.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators may change the subject');
      room.subject = { text: subject.getText(), nick: o.nick };
      await this.persist(room);
    }
    const out = x('message', { ...stanza.attrs, from: occupantJid(room, o.nick), to: undefined, xmlns: undefined });
    for (const c of stanza.children) {
      if (typeof c !== 'string' && c.name === 'stanza-id' && c.attrs.xmlns === NS_SID) continue; // only ours are trusted
      out.append(typeof c === 'string' ? c : c.clone());
    }
    this.relayed(room, o, out);
    const hasBody = stanza.getChild('body') !== undefined;
    if (hasBody && room.config.archiving && this.archive !== null) {
      const id = await this.archive.append(room.jid, { with: o.bare, peer: occupantJid(room, o.nick), dir: 'in', xml: out.toString() });
      out.append(x('stanza-id', { xmlns: NS_SID, by: room.jid, id }));
    }
    if (hasBody) room.addHistory(out, o.nick);
    await this.broadcast(room, out);
  }

  /** §7.8.2 mediated invitations and §7.8.3 declines. */
  private async invitations(room: Room, o: Occupant | undefined, from: Jid, ux: XmlElement): Promise<void> {
    const { messages, newMembers } = mediatedInvitations(room, o, from, ux);
    for (const bare of newMembers) {
      room.setAffiliation(bare, 'member');
      if (room.config.persistent) await this.store.saveAffiliation(room, bare, 'member');
    }
    for (const m of messages) await this.send(m);
  }


  private async privateMessage(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type ?? 'normal';
    const room = this.rooms.get(to.bare);
    const o = room?.occupantOf(from.full);
    if (type === 'error') {
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    if (room === undefined || o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
    if (type === 'groupchat') throw new StanzaError('bad-request', 'private messages cannot be of type groupchat');
    const target = room.occupants.get(to.resource);
    if (target === undefined) throw new StanzaError('item-not-found', 'no occupant with that nickname');
    const pm = room.config.allowPm;
    if (pm === 'none' || (pm === 'moderators' && o.role !== 'moderator') || (pm === 'participants' && o.role === 'visitor')) throw new StanzaError('forbidden', 'private messages are not allowed here');
    for (const full of target.sessions.keys()) {
      const copy = x('message', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, o.nick), to: full }, ...stanza.children.map((c) => (typeof c === 'string' ? c : c.clone())));
      if (copy.getChild('x', NS_MUC_USER) === undefined) copy.append(x('x', { xmlns: NS_MUC_USER }));
      await this.send(this.relayed(room, o, copy));
    }
  }

  // ---- iq to an occupant ---------------------------------------------------

  private async occupantIq(ev: RouteEvent): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    const room = this.rooms.get(to.bare);
    const target = room?.occupants.get(to.resource);
    if (type === 'result' || type === 'error') {
      // A reply from an occupant to another (forwarded earlier): it goes back under the occupant JIDs.
      if (room === undefined || target === undefined) return;
      const sender = room.occupantOf(from.full) ?? room.occupantByBare(from.bare);
      if (sender === undefined) return;
      const full = [...target.sessions.keys()][0]!;
      await this.send(x('iq', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, sender.nick), to: full }, ...stanza.children.map((c) => (typeof c === 'string' ? c : c.clone()))));
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
    if (payload?.name === 'ping' && payload.attrs.xmlns === NS_PING && sender.nick === to.resource) return this.iqResult(ev);
    if (target === undefined) throw new StanzaError('item-not-found', 'no occupant with that nickname');
    // vCards are the account's (XEP-0153 avatars in rooms): asked of the bare JID.
    const isVcard = payload?.name === 'vCard' && payload.attrs.xmlns === NS_VCARD;
    const dest = isVcard ? target.bare : [...target.sessions.keys()][0]!;
    await this.send(x('iq', { ...stanza.attrs, xmlns: undefined, from: occupantJid(room, sender.nick), to: dest }, ...stanza.children.map((c) => (typeof c === 'string' ? c : c.clone()))));
  }

  // ---- iq to the room ------------------------------------------------------

  private async roomIq(ev: RouteEvent): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') return;
    const payload = stanza.elements()[0];
    if (payload === undefined || stanza.elements().length !== 1) throw new StanzaError('bad-request', 'an iq carries exactly one child');
    const ns = payload.attrs.xmlns;
    const room = await this.getRoom(ev.to.bare);
    const aff = room?.affiliation(from.bare) ?? 'none';
    if (room === undefined || (room.locked && aff !== 'owner')) throw new StanzaError('item-not-found', 'no such room');
    const o = room.occupantOf(from.full);
    const key = `${type} ${ns} ${payload.name}`;
    switch (key) {
      case `get ${NS_DISCO_INFO} query`:
        if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
        return this.iqResult(ev, this.roomInfo(room));
      case `get ${NS_DISCO_ITEMS} query`: {
        if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
        // §6.5: occupants may be listed; not for hidden rooms to outsiders.
        const visible = o !== undefined || room.config.public;
        const items = visible ? [...room.occupants.keys()].map((n) => x('item', { jid: occupantJid(room, n), name: n })) : [];
        return this.iqResult(ev, x('query', { xmlns: NS_DISCO_ITEMS }, ...items));
      }
      case `get ${NS_PING} ping`:
        return this.iqResult(ev);
      case `get ${NS_MUC_OWNER} query`:
        if (aff !== 'owner') throw new StanzaError('forbidden', 'only owners may configure the room');
        return this.iqResult(ev, x('query', { xmlns: NS_MUC_OWNER }, configForm(room.config, { archivingAvailable: this.archive !== null, maxHistoryLength: this.opts.maxHistoryLength })));
      case `set ${NS_MUC_OWNER} query`:
        if (aff !== 'owner') throw new StanzaError('forbidden', 'only owners may configure the room');
        return this.ownerSet(ev, room, payload);
      case `get ${NS_MUC_ADMIN} query`:
        return this.iqResult(ev, adminList(room, aff, o, payload));
      case `set ${NS_MUC_ADMIN} query`:
        await this.adminSet(room, aff, o, payload);
        return this.iqResult(ev);
      case `set ${NS_MAM} query`:
        return this.mamQuery(ev, room, aff, o, payload);
      default: {
        const handler = this.extensions.find((e) => e.iq?.[key] !== undefined)?.iq?.[key];
        if (handler === undefined) throw new StanzaError('service-unavailable');
        return this.iqResult(ev, await handler({ room, from, occupant: o, payload }, this.actions));
      }
    }
  }

  private roomInfo(room: Room): XmlElement {
    // XEP-0410 §4: the room answers self-pings itself, without bothering the client.
    const features = [NS_MUC, NS_STABLE_ID, `${NS_MUC}#self-ping-optimization`, ...roomFeatures(room.config), ...this.extensions.flatMap((e) => e.features ?? [])];
    if (room.config.archiving && this.archive !== null) features.push(NS_MAM, NS_SID);
    return x(
      'query',
      { xmlns: NS_DISCO_INFO },
      x('identity', { category: 'conference', type: 'text', name: room.config.name || room.jid.slice(0, room.jid.indexOf('@')) }),
      ...[NS_DISCO_INFO, ...features].map((f) => x('feature', { var: f })),
      roomInfoForm(room.config, room.occupants.size, room.subject.text),
    );
  }

  // ---- owner: configuration and destruction ---------------------------------

  private async ownerSet(ev: RouteEvent, room: Room, payload: XmlElement): Promise<void> {
    const destroy = payload.getChild('destroy');
    if (destroy !== undefined) {
      // §10.9: occupants are removed before the owner gets the result (clients forget the room on the result).
      await this.destroy(room, destroy);
      return this.iqResult(ev);
    }
    const formEl = payload.getChild('x', NS_DATA);
    if (formEl === undefined) throw new StanzaError('bad-request', 'expected a data form or destroy');
    let form;
    try {
      form = parseForm(formEl);
    } catch (e) {
      throw new StanzaError('bad-request', e instanceof DataFormError ? e.message : 'bad form');
    }
    if (form.type === 'cancel') {
      // §10.1.3: cancelling the initial configuration destroys the room.
      if (room.locked) await this.destroy(room, x('destroy'));
      return this.iqResult(ev);
    }
    if (form.type !== 'submit') throw new StanzaError('bad-request', 'submit the form');
    const before = room.config;
    const next = applyConfigForm(before, form, { maxHistoryLength: this.opts.maxHistoryLength });
    const wasLocked = room.locked;
    room.config = next;
    room.locked = false;
    if (room.history.length > next.historyLength) room.history.splice(0, room.history.length - next.historyLength);
    if (next.persistent) await this.store.save(this.serviceOf(room), room);
    else if (before.persistent) await this.store.remove(this.serviceOf(room), room.jid);
    await this.iqResult(ev);
    if (!wasLocked) {
      // §10.2.1: occupants hear that the configuration changed, with what matters for their privacy.
      const codes = [104];
      if (before.whois !== next.whois) codes.push(next.whois === 'anyone' ? 172 : 173);
      if (before.archiving !== next.archiving && this.archive !== null) codes.push(next.archiving ? 170 : 171);
      await this.roomNotice(room, codes);
    }
    if (next.membersOnly && !before.membersOnly) {
      for (const o of [...room.occupants.values()]) if (affRank(room.affiliation(o.bare)) < affRank('member')) await this.expel(room, o, 322, undefined, undefined);
    }
    if (next.moderated !== before.moderated) {
      for (const o of room.occupants.values()) {
        const role = room.defaultRole(room.affiliation(o.bare));
        if (o.role !== role && o.role !== 'moderator') {
          o.role = role;
          await this.broadcastPresence(room, o);
        }
      }
    }
    await this.maybeDrop(room);
  }

  private async destroy(room: Room, destroy: XmlElement): Promise<void> {
    const d = x('destroy', { jid: destroy.attrs.jid });
    const reason = destroy.getChildText('reason');
    if (reason !== undefined) d.append(x('reason', null, reason));
    const password = destroy.getChildText('password');
    if (password !== undefined) d.append(x('password', null, password));
    for (const o of [...room.occupants.values()]) {
      room.removeOccupant(o);
      for (const full of o.sessions.keys()) {
        await this.send(
          x('presence', { type: 'unavailable', from: occupantJid(room, o.nick), to: full }, x('x', { xmlns: NS_MUC_USER }, x('item', { affiliation: 'none', role: 'none' }), d.clone(), x('status', { code: '110' }))),
        );
      }
    }
    this.forget(room);
    await this.store.remove(this.serviceOf(room), room.jid);
    if (this.archive !== null) await this.archive.deleteAll(room.jid);
  }

  // ---- admin: roles and affiliations ----------------------------------------

  /** Applies a `muc#admin` set (§8, §9) once every item of it has been checked. */
  private async adminSet(room: Room, aff: Affiliation, actor: Occupant | undefined, payload: XmlElement): Promise<void> {
    const changes = planAdminChanges(room, aff, actor, payload);
    const actorNick = actor?.nick;
    for (const c of changes) {
      if (c.kind === 'role') {
        if (!room.occupants.has(c.target.nick)) continue;
        if (c.role === 'none') await this.expel(room, c.target, 307, actorNick, c.reason);
        else {
          c.target.role = c.role;
          await this.broadcastPresence(room, c.target, { actor: actorNick, reason: c.reason });
        }
        continue;
      }
      room.setAffiliation(c.jid, c.aff);
      if (room.config.persistent) await this.store.saveAffiliation(room, c.jid, c.aff);
      const present = room.occupantByBare(c.jid);
      if (present === undefined) continue;
      if (c.aff === 'outcast') await this.expel(room, present, 301, actorNick, c.reason);
      else if (room.defaultRole(c.aff) === 'none') await this.expel(room, present, 321, actorNick, c.reason);
      else {
        present.role = room.defaultRole(c.aff);
        await this.broadcastPresence(room, present, { actor: actorNick, reason: c.reason });
      }
    }
  }

  // ---- XEP-0313 on the room -------------------------------------------------

  private async mamQuery(ev: RouteEvent, room: Room, aff: Affiliation, o: Occupant | undefined, payload: XmlElement): Promise<void> {
    if (this.archive === null || !room.config.archiving) throw new StanzaError('service-unavailable', 'this room is not archived');
    const page = await queryRoomArchive(this.archive, room, { full: ev.from.full, aff, occupant: o }, payload, this.opts);
    for (const m of page.messages) await this.send(m);
    await this.iqResult(ev, page.fin);
  }
}

