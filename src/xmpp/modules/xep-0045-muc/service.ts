import { tryParseJid, type Jid } from '../../../util/jid.js';
import { KeyLocks } from '../../../util/key-locks.js';
import type { Logger } from '../../../util/log.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import type { ServerApi } from '../../module.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import type { ConfigDefaults } from './config.js';
import { mediatedInvitations } from './invitations.js';
import type { RoomActions, RoomExtension } from './extensions.js';
import { NS_MUC_USER, NS_SID } from './ns.js';
import { Occupancy } from './occupancy.js';
import { occupantIsGone, occupantJid } from './occupant-presence.js';
import { occupantContent, relayOccupantIq, relayPrivateMessage } from './occupant-relay.js';
import { RoomIq } from './room-iq.js';
import { RoomOutput } from './room-output.js';
import { RoomRegistry } from './room-registry.js';
import { serviceDomainAnswer } from './service-domain.js';
import type { Occupant, Room } from './room.js';
import type { RoomStore } from './store.js';
import { voiceRequest, voiceRequestForm } from './voice-request.js';

export interface MucOptions extends ConfigDefaults {
  name: string;
  creation: 'anyone' | 'local' | 'admins';
  defaultPageSize: number;
  maxPageSize: number;
  /** Most room archive messages counted for an RSM max=0 query (xep-0313-mam/count.ts). */
  countLimit: number;
  /** Largest room vCard (XEP-0486) accepted, in bytes of XML. */
  vcardMaxBytes: number;
}

function mucError(condition: ConstructorParameters<typeof StanzaError>[0], text?: string): StanzaError {
  return new StanzaError(condition, text);
}

/**
 * XEP-0045 Multi-User Chat: every room of the service domains on this node.
 * Stanzas for a room are handled one at a time (the room's turn), so that
 * what the occupants see happens in one order.
 *
 * This class takes each stanza to its handler and holds what occupants say:
 * messages to the room and invitations. Beside it, one file per part:
 * joining, nick changes and leaving (occupancy.ts), iqs to the room, its
 * configuration and admin lists (room-iq.ts), its vCard (room-vcard.ts), registration (room-register.ts), the rooms this node runs (room-registry.ts), what a room
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
  private readonly occupancy: Occupancy;
  private readonly actions: RoomActions;
  /** One room's stanzas are handled one at a time, in order (also while it is loaded or created). */
  private readonly turns = new KeyLocks();

  constructor(
    server: ServerApi,
    private readonly store: RoomStore,
    private readonly log: Logger,
    private readonly opts: MucOptions,
    private readonly archive: ArchiveStore | null,
  ) {
    this.rooms = new RoomRegistry(store, opts);
    this.out = new RoomOutput(server, log);
    this.actions = { broadcast: (room, stanza) => this.out.broadcast(room, stanza), relay: (room, o, el) => this.out.relayed(room, o, el), archive };
    this.roomIq = new RoomIq(this.rooms, this.out, store, archive, opts, this.actions);
    this.occupancy = new Occupancy(server, this.rooms, this.out, opts.creation, archive);
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
        if (stanza.attrs.type === 'unavailable' && (await this.occupancy.leaveFromRoomJid(ev))) return;
        if (stanza.attrs.type !== 'error') throw new StanzaError('jid-malformed', 'join a room as room@service/nick');
        return;
      }
      if (stanza.name === 'presence') return await this.occupancy.presence(ev);
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
    await this.out.iqResult(ev, await serviceDomainAnswer(payload, this.opts.name, featuresOfEveryRoom, (from, max) => this.rooms.publicRoomsPage(ev.to.domain, from, max)));
  }

  // ---- messages ------------------------------------------------------------

  private async roomMessage(ev: RouteEvent): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type ?? 'normal';
    if (type === 'error') {
      const room = this.rooms.loaded(ev.to.bare);
      const o = room?.occupantOf(from.full);
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.occupancy.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
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
      room.subject = { text: subject.getText(), nick: o.nick, setMs: Date.now() };
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
      if (room !== undefined && o !== undefined && occupantIsGone(stanza)) await this.occupancy.leave(room, o, from.full, x('presence', { type: 'unavailable' }), [333]);
      return;
    }
    if (room === undefined || o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
    return relayPrivateMessage(this.out, room, o, ev);
  }
}
