import type { Table, TableSpec } from '../../../storage/wide-column.js';
import { parseXml } from '../../stream/parse-xml.js';
import type { RoomConfig } from './config.js';
import { avatarHashes } from './room-vcard.js';
import { AFFILIATIONS, mayReserveNick, Room, type Affiliation, type StoredRoom } from './room.js';

export const ROOMS = 'muc_rooms';
export const AFFILIATIONS_TABLE = 'muc_affiliations';
export const ROOM_LIST = 'muc_room_list';
export const NICKS_TABLE = 'muc_nicks';

export const MUC_TABLES: TableSpec[] = [
  { name: ROOMS, description: "XEP-0045 persistent rooms: pk = room JID, sk = 'room', value = JSON configuration, subject, creation time; sk = 'vcard', value = the room's XEP-0486 <vCard/> XML, when it has one." },
  { name: AFFILIATIONS_TABLE, description: 'XEP-0045 affiliations of persistent rooms: pk = room JID, sk = user bare JID, value = owner|admin|member|outcast.' },
  { name: NICKS_TABLE, description: 'XEP-0045 nicks reserved by registering with a persistent room (§7.10): pk = room JID, sk = user bare JID, value = nick; honoured only while the user is a member, admin or owner in muc_affiliations.' },
  { name: ROOM_LIST, description: "XEP-0045 persistent rooms per service: pk = service domain, sk = room JID, value = JSON { name, public } for disco#items." },
];

/**
 * Reads an affiliation row; undefined for a value of neither form. Rows are plain affiliations, which every
 * release reads (a node still on an older release ignores any other value, and its whole-room save then
 * deletes the row, so a reserved nick lives in muc_nicks, which such a node never touches). A JSON
 * { affiliation, nick } row was written by unreleased code for a while: it is read, and rewritten plain
 * (the nick into muc_nicks) by the room's next save.
 */
function parseAffiliationValue(value: string): { affiliation: Affiliation; nick?: string } | undefined {
  if (AFFILIATIONS.has(value)) return { affiliation: value as Affiliation };
  if (!value.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(value) as { affiliation?: unknown; nick?: unknown };
    if (typeof v.affiliation !== 'string' || !AFFILIATIONS.has(v.affiliation)) return undefined;
    const affiliation = v.affiliation as Affiliation;
    return typeof v.nick === 'string' ? { affiliation, nick: v.nick } : { affiliation };
  } catch {
    return undefined;
  }
}

const ROOM_SK = 'room';
const VCARD_SK = 'vcard';

export interface ListedRoom {
  jid: string;
  name: string;
  public: boolean;
}

/** Persistent rooms, their affiliations and reserved nicks in four tables; temporary rooms are never written. */
export class RoomStore {
  constructor(
    private readonly rooms: Table,
    private readonly affiliations: Table,
    private readonly list: Table,
    private readonly nicks: Table,
  ) {}

  async load(jid: string, withDefaults: (c: Partial<RoomConfig>) => RoomConfig): Promise<Room | undefined> {
    // The room's partition holds its configuration row and, with an avatar, its vCard row: one read for both.
    const rows = await this.rooms.range(jid);
    const row = rows.find((r) => r.sk === ROOM_SK);
    if (row === undefined) return undefined;
    const stored = JSON.parse(row.value) as StoredRoom;
    const room = new Room(jid, withDefaults(stored.config), stored.subject, stored.createdMs);
    const vcard = rows.find((r) => r.sk === VCARD_SK)?.value;
    if (vcard !== undefined) {
      room.vcard = vcard;
      room.avatarHashes = avatarHashes(parseXml(vcard));
    }
    const [affiliationRows, nickRows] = await Promise.all([this.affiliations.range(jid), this.nicks.range(jid)]);
    const nicks = new Map<string, string>();
    for (const row of affiliationRows) {
      const stored = parseAffiliationValue(row.value);
      if (stored === undefined || stored.affiliation === 'none') continue;
      room.setAffiliation(row.sk, stored.affiliation);
      if (stored.nick !== undefined) nicks.set(row.sk, stored.nick);
    }
    for (const row of nickRows) nicks.set(row.sk, row.value);
    for (const [bare, nick] of nicks) {
      // A nick row outlives its affiliation when an older node, which knows no nicks, bans the user or
      // removes the membership; the nick is then free, and the room's next save deletes the row.
      if (mayReserveNick(room.affiliation(bare)) && room.nickReservedBy(nick) === undefined) room.reserveNick(bare, nick);
    }
    return room;
  }

  /**
   * Writes configuration, subject, every affiliation and reserved nick of a persistent room; with `vcard`,
   * its vCard too. A configuration change asks for it: the room may be stored for the first time then, with
   * a vCard set while it was temporary or locked. A subject change, more frequent, leaves the vCard's row
   * (up to the vCard size limit) alone.
   */
  async save(service: string, room: Room, opts: { vcard?: boolean } = {}): Promise<void> {
    await this.rooms.putJson(room.jid, ROOM_SK, room.toStored());
    if (opts.vcard === true) await this.saveVcard(room.jid, room.vcard);
    await this.list.putJson(service, room.jid, { name: room.config.name, public: room.config.public });
    const [affiliationRows, nickRows] = await Promise.all([this.affiliations.range(room.jid), this.nicks.range(room.jid)]);
    const stored = new Map(affiliationRows.map((r) => [r.sk, r.value]));
    const storedNicks = new Map(nickRows.map((r) => [r.sk, r.value]));
    for (const [bare, a] of room.affiliations) {
      const nick = room.reservedNick(bare);
      // The nick before the affiliation, as saveAffiliation orders them.
      if (nick !== undefined && storedNicks.get(bare) !== nick) await this.nicks.put(room.jid, bare, nick);
      if (stored.get(bare) !== a) await this.affiliations.put(room.jid, bare, a);
    }
    for (const bare of stored.keys()) if (!room.affiliations.has(bare)) await this.affiliations.delete(room.jid, bare);
    for (const bare of storedNicks.keys()) if (room.reservedNick(bare) === undefined) await this.nicks.delete(room.jid, bare);
  }

  /** Writes (null: deletes) the vCard of the stored room `jid`. */
  async saveVcard(jid: string, xml: string | null): Promise<void> {
    if (xml === null) await this.rooms.delete(jid, VCARD_SK);
    else await this.rooms.put(jid, VCARD_SK, xml);
  }

  /**
   * Writes one user's affiliation and the nick it reserves (undefined: none), which an affiliation that may
   * not hold one (none, outcast) drops. Without a nick the user's nick row is deleted, also one an older
   * node left behind when it banned the user. A nick is written before the affiliation and deleted after
   * it: a registration cut short leaves at most a nick row without the membership, which load ignores.
   */
  async saveAffiliation(room: Room, bare: string, a: Affiliation, nick: string | undefined): Promise<void> {
    const kept = mayReserveNick(a) ? nick : undefined;
    if (kept !== undefined) await this.nicks.put(room.jid, bare, kept);
    if (a === 'none') await this.affiliations.delete(room.jid, bare);
    else await this.affiliations.put(room.jid, bare, a);
    if (kept === undefined) await this.nicks.delete(room.jid, bare);
  }

  /**
   * Writes several affiliations as one change, before `room` takes any of them: when a write fails,
   * those already written are put back as the room still has them, and the error is passed on.
   */
  async saveAffiliations(room: Room, changes: readonly { jid: string; aff: Affiliation }[]): Promise<void> {
    const written: { jid: string; before: Affiliation }[] = [];
    try {
      for (const c of changes) {
        const before = room.affiliation(c.jid);
        // The user keeps the nick it reserved, unless the new affiliation may not hold one.
        await this.saveAffiliation(room, c.jid, c.aff, room.reservedNick(c.jid));
        written.push({ jid: c.jid, before });
      }
    } catch (e) {
      // Best effort: a store that just failed may refuse these too; the caller hears of the first failure either way.
      for (const w of written.reverse()) await this.saveAffiliation(room, w.jid, w.before, room.reservedNick(w.jid)).catch(() => undefined);
      throw e;
    }
  }

  async remove(service: string, jid: string): Promise<void> {
    // The vCard and nicks first: a removal cut short must not leave them behind for the next room of that name.
    await this.rooms.delete(jid, VCARD_SK);
    await this.nicks.deletePartition(jid);
    await this.rooms.delete(jid, ROOM_SK);
    await this.affiliations.deletePartition(jid);
    await this.list.delete(service, jid);
  }

  /**
   * Up to `limit` stored rooms of a service in JID order after `after`
   * (exclusive), or, with `before` ('' for the end), the `limit` JIDs just
   * before it, last JID first: one key-range read of a disco#items page.
   */
  async listedPage(service: string, from: { after?: string; before?: string }, limit: number): Promise<ListedRoom[]> {
    const options =
      from.before !== undefined
        ? { reverse: true, limit, ...(from.before === '' ? {} : { end: from.before, endExclusive: true }) }
        : { limit, ...(from.after === undefined ? {} : { start: from.after, startExclusive: true }) };
    return (await this.list.range(service, options)).map((r) => ({ jid: r.sk, ...(JSON.parse(r.value) as { name: string; public: boolean }) }));
  }
}
