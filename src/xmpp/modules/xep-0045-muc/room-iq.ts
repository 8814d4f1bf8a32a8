import { DataFormError, NS_DATA, parseForm } from '../../../util/data-form.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/api.js';
import type { ArchiveStore } from '../xep-0313-mam/archive.js';
import { queryForm } from '../xep-0313-mam/extended.js';
import { NS_MAM } from '../xep-0313-mam/query.js';
import { adminList, planAdminChanges } from './admin.js';
import { applyConfigForm, configForm, roomFeatures, roomInfoForm } from './config.js';
import type { RoomActions } from './extensions.js';
import { NS_MUC, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER, NS_PING, NS_REGISTER, NS_SID, NS_STABLE_ID, NS_VCARD } from './ns.js';
import { occupantJid } from './occupant-presence.js';
import { NS_MUC_REQUEST } from './voice-request.js';
import { queryRoomArchive, roomArchiveMetadata } from './room-archive.js';
import { serviceOf, type RoomRegistry } from './room-registry.js';
import type { RoomOutput } from './room-output.js';
import { RoomRegister } from './room-register.js';
import { mayViewAvatar, RoomVcard } from './room-vcard.js';
import { affRank, type Affiliation, type Occupant, type Room } from './room.js';
import type { MucOptions } from './service.js';
import type { RoomStore } from './store.js';

/** The disco node a user asks for the nick reserved for it in a room (§7.12). */
const RESERVED_NICK_NODE = 'x-roomuser-item';

/** §7.12: the nick `bare` registered (room-register.ts) as an identity's name; without one an empty query, not an error. */
function reservedNickInfo(room: Room, bare: string): XmlElement {
  const nick = room.reservedNick(bare);
  const identity = nick === undefined ? [] : [x('identity', { category: 'conference', type: 'text', name: nick })];
  return x('query', { xmlns: NS_DISCO_INFO, node: RESERVED_NICK_NODE }, ...identity);
}

/**
 * Iqs to a room's bare JID: disco (§6.3–6.4, the reserved nick of §7.12),
 * registration (§7.10, room-register.ts), the owner's configuration and
 * destruction (§10), the admin lists of roles and affiliations (§8–9), the
 * room's archive (XEP-0313), its vCard (XEP-0486, room-vcard.ts), and what
 * extensions answer. Runs inside the
 * room's turn, like everything else that changes a room.
 */
export class RoomIq {
  private readonly vcard: RoomVcard;
  private readonly register: RoomRegister;

  constructor(
    private readonly rooms: RoomRegistry,
    private readonly out: RoomOutput,
    private readonly store: RoomStore,
    private readonly archive: ArchiveStore | null,
    private readonly opts: MucOptions,
    private readonly actions: RoomActions,
  ) {
    this.vcard = new RoomVcard(store, out, opts.vcardMaxBytes);
    this.register = new RoomRegister(store, out);
  }

  async handle(ev: RouteEvent): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') return;
    const payload = stanza.elements()[0];
    if (payload === undefined || stanza.elements().length !== 1) throw new StanzaError('bad-request', 'an iq carries exactly one child');
    const ns = payload.attrs.xmlns;
    const room = await this.rooms.get(ev.to.bare);
    const aff = room?.affiliation(from.bare) ?? 'none';
    if (room === undefined || (room.locked && aff !== 'owner')) throw new StanzaError('item-not-found', 'no such room');
    const o = room.occupantOf(from.full);
    const key = `${type} ${ns} ${payload.name}`;
    switch (key) {
      case `get ${NS_DISCO_INFO} query`:
        if (payload.attrs.node === RESERVED_NICK_NODE) return this.out.iqResult(ev, reservedNickInfo(room, from.bare));
        if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
        return this.out.iqResult(ev, this.info(room, mayViewAvatar(room, aff, o)));
      case `get ${NS_DISCO_ITEMS} query`: {
        if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
        // §6.5: occupants may be listed; not for hidden rooms to outsiders.
        const visible = o !== undefined || room.config.public;
        const items = visible ? [...room.occupants.keys()].map((n) => x('item', { jid: occupantJid(room, n), name: n })) : [];
        return this.out.iqResult(ev, x('query', { xmlns: NS_DISCO_ITEMS }, ...items));
      }
      case `get ${NS_PING} ping`:
        return this.out.iqResult(ev);
      case `get ${NS_MUC_OWNER} query`:
        if (aff !== 'owner') throw new StanzaError('forbidden', 'only owners may configure the room');
        return this.out.iqResult(ev, x('query', { xmlns: NS_MUC_OWNER }, configForm(room.config, { archivingAvailable: this.archive !== null, maxHistoryLength: this.opts.maxHistoryLength })));
      case `set ${NS_MUC_OWNER} query`:
        if (aff !== 'owner') throw new StanzaError('forbidden', 'only owners may configure the room');
        return this.ownerSet(ev, room, payload);
      case `get ${NS_MUC_ADMIN} query`:
        return this.out.iqResult(ev, adminList(room, aff, o, payload));
      case `set ${NS_MUC_ADMIN} query`:
        await this.adminSet(room, aff, o, payload);
        return this.out.iqResult(ev);
      case `set ${NS_MAM} query`:
        return this.mamQuery(ev, room, aff, o, payload);
      case `get ${NS_MAM} query`:
        if (this.archive === null || !room.config.archiving) throw new StanzaError('service-unavailable', 'this room is not archived');
        return this.out.iqResult(ev, queryForm());
      case `get ${NS_VCARD} vCard`:
        return this.vcard.get(ev, room, aff, o);
      case `set ${NS_VCARD} vCard`:
        return this.vcard.set(ev, room, aff, payload);
      case `get ${NS_REGISTER} query`:
        return this.register.get(ev, room, aff);
      case `set ${NS_REGISTER} query`:
        return this.register.set(ev, room, aff, payload);
      case `get ${NS_MAM} metadata`:
        if (this.archive === null || !room.config.archiving) throw new StanzaError('service-unavailable', 'this room is not archived');
        return this.out.iqResult(ev, await roomArchiveMetadata(this.archive, room, { aff, occupant: o }));
      default: {
        const handler = this.out.extensions.find((e) => e.iq?.[key] !== undefined)?.iq?.[key];
        if (handler === undefined) throw new StanzaError('service-unavailable');
        return this.out.iqResult(ev, await handler({ room, from, occupant: o, payload }, this.actions));
      }
    }
  }

  /** `showAvatar`: whether the requester may see the room's avatar, whose hash the form then carries (XEP-0486 §3.3). */
  private info(room: Room, showAvatar: boolean): XmlElement {
    // XEP-0410 §4: the room answers self-pings itself, without bothering the client.
    const features = [NS_MUC, NS_STABLE_ID, `${NS_MUC}#self-ping-optimization`, NS_MUC_REQUEST, NS_VCARD, NS_REGISTER, ...roomFeatures(room.config), ...this.out.extensions.flatMap((e) => e.features ?? [])];
    if (room.config.archiving && this.archive !== null) features.push(NS_MAM, `${NS_MAM}#extended`, NS_SID);
    return x(
      'query',
      { xmlns: NS_DISCO_INFO },
      x('identity', { category: 'conference', type: 'text', name: room.config.name || room.jid.slice(0, room.jid.indexOf('@')) }),
      ...[NS_DISCO_INFO, ...features].map((f) => x('feature', { var: f })),
      roomInfoForm(room.config, room.occupants.size, room.subject.text, showAvatar ? room.avatarHashes : []),
    );
  }

  // ---- owner: configuration and destruction ---------------------------------

  private async ownerSet(ev: RouteEvent, room: Room, payload: XmlElement): Promise<void> {
    const destroy = payload.getChild('destroy');
    if (destroy !== undefined) {
      // §10.9: occupants are removed before the owner gets the result (clients forget the room on the result).
      await this.destroy(room, destroy);
      return this.out.iqResult(ev);
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
      return this.out.iqResult(ev);
    }
    if (form.type !== 'submit') throw new StanzaError('bad-request', 'submit the form');
    const before = room.config;
    const next = applyConfigForm(before, form, { maxHistoryLength: this.opts.maxHistoryLength });
    const wasLocked = room.locked;
    room.config = next;
    room.locked = false;
    try {
      // With the vCard: the room may be stored for the first time, with one set while it was temporary or locked.
      if (next.persistent) await this.store.save(serviceOf(room), room, { vcard: true });
      else if (before.persistent) await this.store.remove(serviceOf(room), room.jid);
    } catch (e) {
      // The owner is answered with an error, which says nothing changed: the live room must agree.
      room.config = before;
      room.locked = wasLocked;
      throw e;
    }
    if (room.history.length > next.historyLength) room.history.splice(0, room.history.length - next.historyLength);
    await this.out.iqResult(ev);
    if (!wasLocked) {
      // §10.2.1: occupants hear that the configuration changed, with what matters for their privacy.
      const codes = [104];
      if (before.whois !== next.whois) codes.push(next.whois === 'anyone' ? 172 : 173);
      if (before.archiving !== next.archiving && this.archive !== null) codes.push(next.archiving ? 170 : 171);
      await this.out.roomNotice(room, codes);
    }
    if (next.membersOnly && !before.membersOnly) {
      for (const o of [...room.occupants.values()]) if (affRank(room.affiliation(o.bare)) < affRank('member')) await this.expel(room, o, 322, undefined, undefined);
    }
    if (next.moderated !== before.moderated) {
      for (const o of room.occupants.values()) {
        const role = room.defaultRole(room.affiliation(o.bare));
        if (o.role !== role && o.role !== 'moderator') {
          o.role = role;
          await this.out.broadcastPresence(room, o);
        }
      }
    }
    await this.rooms.dropIfUnused(room);
  }

  private async destroy(room: Room, destroy: XmlElement): Promise<void> {
    // Gone from the store before anyone hears it is gone: a failure is the owner's error (wait) and the room
    // stays as it was. The archive goes first: a room the store forgot must not leave its archive to
    // the next room of that name.
    if (this.archive !== null) await this.archive.deleteAll(room.jid);
    await this.store.remove(serviceOf(room), room.jid);
    const d = x('destroy', { jid: destroy.attrs.jid });
    const reason = destroy.getChildText('reason');
    if (reason !== undefined) d.append(x('reason', null, reason));
    const password = destroy.getChildText('password');
    if (password !== undefined) d.append(x('password', null, password));
    for (const o of [...room.occupants.values()]) {
      room.removeOccupant(o);
      for (const full of o.sessions.keys()) {
        const gone = x('presence', { type: 'unavailable', from: occupantJid(room, o.nick), to: full }, x('x', { xmlns: NS_MUC_USER }, x('item', { affiliation: 'none', role: 'none' }), d.clone(), x('status', { code: '110' })));
        // Relayed as the occupant's own presence: extensions add what each of its presences carries (XEP-0421 ids).
        await this.out.send(this.out.relayed(room, o, gone));
      }
    }
    this.rooms.forget(room);
  }

  // ---- admin: roles and affiliations ----------------------------------------

  /** Applies a `muc#admin` set (§8, §9) once every item of it has been checked. */
  private async adminSet(room: Room, aff: Affiliation, actor: Occupant | undefined, payload: XmlElement): Promise<void> {
    const changes = planAdminChanges(room, aff, actor, payload);
    // Stored first, all of them: a set the store refused is answered with an error, which says none of it
    // happened (§9 applies a batch entirely or not at all).
    if (room.config.persistent) await this.store.saveAffiliations(room, changes.flatMap((c) => (c.kind === 'aff' ? [c] : [])));
    const actorNick = actor?.nick;
    for (const c of changes) {
      if (c.kind === 'role') {
        if (!room.occupants.has(c.target.nick)) continue;
        if (c.role === 'none') await this.expel(room, c.target, 307, actorNick, c.reason);
        else {
          c.target.role = c.role;
          await this.out.broadcastPresence(room, c.target, { actor: actorNick, reason: c.reason });
        }
        continue;
      }
      room.setAffiliation(c.jid, c.aff);
      // Every nick the account is in the room under: a ban must not leave its second client talking.
      for (const present of [...room.occupants.values()].filter((o) => o.bare === c.jid)) {
        if (c.aff === 'outcast') await this.expel(room, present, 301, actorNick, c.reason);
        else if (room.defaultRole(c.aff) === 'none') await this.expel(room, present, 321, actorNick, c.reason);
        else {
          present.role = room.defaultRole(c.aff);
          await this.out.broadcastPresence(room, present, { actor: actorNick, reason: c.reason });
        }
      }
    }
  }

  /** Removes an occupant for a reason the room decides (kick 307, ban 301, affiliation 321, members-only 322). */
  private async expel(room: Room, o: Occupant, code: number, actor: string | undefined, reason: string | undefined): Promise<void> {
    room.removeOccupant(o);
    o.role = 'none';
    await this.out.broadcastPresence(room, o, { type: 'unavailable', codes: [code], actor, reason });
  }

  // ---- XEP-0313 on the room -------------------------------------------------

  private async mamQuery(ev: RouteEvent, room: Room, aff: Affiliation, o: Occupant | undefined, payload: XmlElement): Promise<void> {
    if (this.archive === null || !room.config.archiving) throw new StanzaError('service-unavailable', 'this room is not archived');
    const page = await queryRoomArchive(this.archive, room, { full: ev.from.full, aff, occupant: o }, payload, this.opts);
    for (const m of page.messages) await this.out.send(m);
    await this.out.iqResult(ev, page.fin);
  }
}
