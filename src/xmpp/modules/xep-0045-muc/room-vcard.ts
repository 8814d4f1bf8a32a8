import { createHash } from 'node:crypto';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { parseXml } from '../../stream/parse-xml.js';
import { NS_VCARD } from './ns.js';
import type { RoomOutput } from './room-output.js';
import type { Affiliation, Occupant, Room } from './room.js';
import type { RoomStore } from './store.js';

/** XEP-0153: the presence payload that names an avatar by its hash. */
export const NS_VCARD_UPDATE = 'vcard-temp:x:update';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The XEP-0153 hash of each PHOTO that carries image data: hex SHA-1 of its
 * BINVAL's bytes. XEP-0486 §5.1: every PHOTO counts, so a vCard with two
 * formats of one image has two hashes. A PHOTO by URL (EXTVAL) has no bytes
 * to hash and none here. A BINVAL that is not base64 is bad-request: clients
 * could never match its hash.
 */
export function avatarHashes(vcard: XmlElement): string[] {
  const hashes: string[] = [];
  for (const photo of vcard.getChildren('PHOTO')) {
    const b64 = (photo.getChildText('BINVAL') ?? '').replace(/\s+/g, '');
    if (b64 === '') continue;
    if (!BASE64.test(b64)) throw new StanzaError('bad-request', 'PHOTO/BINVAL is not base64');
    hashes.push(createHash('sha1').update(Buffer.from(b64, 'base64')).digest('hex'));
  }
  return hashes;
}

/**
 * Who may see a room's avatar (its vCard, and the hash in its disco#info):
 * whoever may join the room, and whoever is in it. A members-only room shows
 * it to its members only, and no room to its outcasts; a hidden room is only
 * unlisted, so it shows its avatar to anyone who knows its address, as it
 * shows its name and description.
 */
export function mayViewAvatar(room: Room, aff: Affiliation, o: Occupant | undefined): boolean {
  return o !== undefined || room.defaultRole(aff) !== 'none';
}

/**
 * XEP-0486 MUC Avatars: vcard-temp on a room's bare JID. An owner sets the
 * room's vCard (XEP-0054 §3.2, an empty one removes it), anyone who may see
 * the room reads it. Each change of the avatar is told to the occupants with
 * status 104 (what the XEP asks) and with a XEP-0153 presence from the room's
 * bare JID, which the XEP describes as earlier practice and which Prosody and
 * ejabberd still send, for clients that look for it.
 *
 * Runs inside the room's turn (room-iq.ts), so in a cluster on the node that
 * holds the room. A stored room's vCard is written before the owner is
 * answered; a temporary room keeps it in memory only, as it keeps the rest.
 */
export class RoomVcard {
  constructor(
    private readonly store: RoomStore,
    private readonly out: RoomOutput,
    /** Largest vCard accepted, in bytes of XML: the vcard module's limit for accounts. */
    private readonly maxBytes: number,
  ) {}

  async get(ev: RouteEvent, room: Room, aff: Affiliation, o: Occupant | undefined): Promise<void> {
    if (!mayViewAvatar(room, aff, o)) throw new StanzaError('forbidden', 'only those who may join this room may see its vCard');
    // XEP-0054 §3.1: an empty vCard says there is none; clients take it better than item-not-found.
    await this.out.iqResult(ev, room.vcard === null ? x('vCard', { xmlns: NS_VCARD }) : parseXml(room.vcard));
  }

  async set(ev: RouteEvent, room: Room, aff: Affiliation, payload: XmlElement): Promise<void> {
    if (aff !== 'owner') throw new StanzaError('forbidden', "only owners may set the room's vCard");
    const given = payload.clone();
    const empty = given.elements().length === 0 && given.getText().trim() === '';
    const vcard = empty ? null : x('vCard', { xmlns: NS_VCARD }, ...given.children);
    const xml = vcard === null ? null : vcard.toString();
    if (xml !== null && Buffer.byteLength(xml, 'utf8') > this.maxBytes) throw new StanzaError('not-acceptable', `vCard larger than ${this.maxBytes} bytes`);
    const hashes = vcard === null ? [] : avatarHashes(vcard);
    // Stored before anything changes: a store that fails answers the owner with an error, and the room keeps its avatar.
    if (room.config.persistent && !room.locked) await this.store.saveVcard(room.jid, xml);
    const changed = hashes.join(' ') !== room.avatarHashes.join(' ');
    room.vcard = xml;
    room.avatarHashes = hashes;
    await this.out.iqResult(ev);
    // A room being created has nobody to tell but its owner, who has just set it.
    if (!changed || room.locked) return;
    await this.out.roomNotice(room, [104]);
    // XEP-0153 §4.1: an empty <photo/> says there is no avatar; a <photo/> holds one hash, the first PHOTO's.
    await this.out.broadcast(room, x('presence', { from: room.jid }, x('x', { xmlns: NS_VCARD_UPDATE }, x('photo', null, hashes[0]))));
  }
}
