import { buildForm, DataFormError, formTypeField, getFormType, getValue, NS_DATA, parseForm, type DataForm } from '../../../util/data-form.js';
import { JidError, normaliseResource } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import type { RouteEvent } from '../../events.js';
import { NS_MUC_REGISTER, NS_REGISTER } from './ns.js';
import type { RoomOutput } from './room-output.js';
import { affRank, mayReserveNick, type Affiliation, type Room } from './room.js';
import type { RoomStore } from './store.js';

const NICK_FIELD = 'muc#register_roomnick';

/** The muc#register form (FORM_TYPE registered in §15), with the user's current nick when it has one. */
function registrationForm(nick: string | undefined): XmlElement {
  const form: DataForm = {
    type: 'form',
    title: 'Register with the room',
    instructions: ['Choose the nickname to reserve in this room: nobody else may join or register with it. Registering makes you a member.'],
    fields: [formTypeField(NS_MUC_REGISTER), { var: NICK_FIELD, type: 'text-single', label: 'Nickname', required: true, values: nick === undefined ? [] : [nick] }],
  };
  return buildForm(form);
}

/**
 * Who may register: XEP-0045 §7.10 lets a room restrict it and answer not-allowed. An outcast is refused
 * as its join is (§7.2.8, forbidden; Prosody answers the same). A members-only room registers only those
 * already on its member list (members, admins, owners reserving a nick): registration would otherwise
 * make anyone a member and the room open to all; the XEP's approval by the room's admins (§9.9) is not
 * offered, so an outsider asks an admin, who adds it with muc#admin.
 */
function checkMayRegister(room: Room, aff: Affiliation): void {
  if (aff === 'outcast') throw new StanzaError('forbidden', 'you are banned from this room');
  if (room.config.membersOnly && affRank(aff) < affRank('member')) throw new StanzaError('not-allowed', 'this room is members-only: ask an admin to make you a member');
}

/**
 * XEP-0045 §7.10 registering with a room: jabber:iq:register (XEP-0077) on the
 * room's bare JID. A get answers the muc#register form, or `<registered/>` with
 * the reserved nick when the user has one; a submitted form reserves the nick
 * and makes an unaffiliated user a member; `<remove/>` (XEP-0077 §3.2, as
 * Prosody allows) frees the nick and gives a member's membership up. A reserved
 * nick is kept beside the user's affiliation (muc_nicks, store.ts), shown on the
 * x-roomuser-item node (§7.12), and refused with conflict to others who join or
 * register with it (occupancy.ts). Nicks are not locked down: a registered user
 * may still join under another nick, as §7.12 advises.
 *
 * Runs inside the room's turn (room-iq.ts), so in a cluster on the node that
 * holds the room; a stored room's row is written before the user is answered,
 * and a store that fails changes nothing.
 */
export class RoomRegister {
  constructor(
    private readonly store: RoomStore,
    private readonly out: RoomOutput,
  ) {}

  async get(ev: RouteEvent, room: Room, aff: Affiliation): Promise<void> {
    checkMayRegister(room, aff);
    const nick = room.reservedNick(ev.from.bare);
    // XEP-0077 §3.1: <registered/> and the current data; <username/> carries the nick, as Prosody sends it.
    const current = nick === undefined ? [] : [x('registered'), x('username', null, nick)];
    await this.out.iqResult(ev, x('query', { xmlns: NS_REGISTER }, ...current, registrationForm(nick)));
  }

  async set(ev: RouteEvent, room: Room, aff: Affiliation, payload: XmlElement): Promise<void> {
    checkMayRegister(room, aff);
    if (payload.getChild('remove') !== undefined) {
      // XEP-0077 §3.2: <remove/> stands alone.
      if (payload.elements().length !== 1) throw new StanzaError('bad-request', '<remove/> must be the only child');
      return this.cancel(ev, room, aff);
    }
    const formEl = payload.getChild('x', NS_DATA);
    if (formEl === undefined) throw new StanzaError('bad-request', 'submit the muc#register form');
    let form: DataForm;
    try {
      form = parseForm(formEl);
    } catch (e) {
      throw new StanzaError('bad-request', e instanceof DataFormError ? e.message : 'bad form');
    }
    if (form.type === 'cancel') return this.out.iqResult(ev);
    if (form.type !== 'submit' || getFormType(form) !== NS_MUC_REGISTER) throw new StanzaError('bad-request', 'submit the muc#register form');
    const given = getValue(form, NICK_FIELD) ?? '';
    // XEP-0077 §3.1: a required field left empty is not-acceptable.
    if (given.trim() === '') throw new StanzaError('not-acceptable', 'a nickname is required');
    let nick: string;
    try {
      // The form the join's JID gives the nick, so the two compare as equal.
      nick = normaliseResource(given);
    } catch (e) {
      throw new StanzaError('bad-request', e instanceof JidError ? `bad nickname: ${e.message}` : 'bad nickname');
    }
    const bare = ev.from.bare;
    const holder = room.nickReservedBy(nick);
    const occupant = room.occupants.get(nick);
    if ((holder !== undefined && holder !== bare) || (occupant !== undefined && occupant.bare !== bare)) throw new StanzaError('conflict', 'that nickname is reserved or in use');
    // Admins and owners keep their affiliation; anyone else becomes a member (§7.10).
    const next: Affiliation = mayReserveNick(aff) ? aff : 'member';
    if (next === aff && room.reservedNick(bare) === nick) return this.out.iqResult(ev);
    await this.apply(ev, room, aff, next, nick);
  }

  private async cancel(ev: RouteEvent, room: Room, aff: Affiliation): Promise<void> {
    const bare = ev.from.bare;
    // XEP-0077 §3.2: nothing to cancel.
    if (room.reservedNick(bare) === undefined && aff !== 'member') throw new StanzaError('registration-required', 'you are not registered with this room');
    // A member gives the membership up with the nick; admins and owners stay what they are (as in Prosody).
    await this.apply(ev, room, aff, aff === 'member' ? 'none' : aff, undefined);
  }

  /** Stores, applies and answers a registration change, then shows the user's occupants with their new affiliation (§7.10). */
  private async apply(ev: RouteEvent, room: Room, before: Affiliation, next: Affiliation, nick: string | undefined): Promise<void> {
    const bare = ev.from.bare;
    if (room.config.persistent && !room.locked) await this.store.saveAffiliation(room, bare, next, nick);
    room.setAffiliation(bare, next);
    room.reserveNick(bare, nick);
    await this.out.iqResult(ev);
    if (next === before) return;
    for (const o of [...room.occupants.values()].filter((p) => p.bare === bare)) {
      const role = room.defaultRole(next);
      if (role === 'none') {
        // A member of a members-only room who unregisters may no longer be in it (§9.4 status 321).
        room.removeOccupant(o);
        o.role = 'none';
        await this.out.broadcastPresence(room, o, { type: 'unavailable', codes: [321] });
        continue;
      }
      // A moderator by a grant stays one; otherwise the role follows the new affiliation (§5.1.2).
      if (o.role !== 'moderator') o.role = role;
      await this.out.broadcastPresence(room, o);
    }
  }
}
