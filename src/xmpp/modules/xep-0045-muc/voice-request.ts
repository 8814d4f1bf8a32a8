import { buildForm, DataFormError, findForm, formTypeField, getBoolean, getValue, type DataForm } from '../../../util/data-form.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { planAdminChanges } from './admin.js';
import { NS_MUC_ADMIN } from './ns.js';
import type { RoomOutput } from './room-output.js';
import type { Affiliation, Occupant, Room } from './room.js';

export const NS_MUC_REQUEST = 'http://jabber.org/protocol/muc#request';

/** The muc#request form a message to the room carries, if any (§7.13, §8.6); bad-request when it is no form. */
export function voiceRequestForm(stanza: XmlElement): DataForm | undefined {
  try {
    return findForm(stanza, NS_MUC_REQUEST);
  } catch (e) {
    if (e instanceof DataFormError) throw new StanzaError('bad-request', e.message);
    throw e;
  }
}

/** The approval form a moderator gets for a visitor's request (§8.6), with the visitor's real JID: moderators may see it (§8). */
function approvalForm(nick: string, realFull: string): XmlElement {
  return buildForm({
    type: 'form',
    title: 'Voice request',
    instructions: ['To approve this request for voice, select the "Grant voice to this person?" checkbox and submit the form. To skip it, cancel.'],
    fields: [
      formTypeField(NS_MUC_REQUEST),
      { var: 'muc#role', type: 'list-single', label: 'Requested role', values: ['participant'], options: [{ value: 'participant' }] },
      { var: 'muc#jid', type: 'jid-single', label: 'User ID', values: [realFull] },
      { var: 'muc#roomnick', type: 'text-single', label: 'Room Nickname', values: [nick] },
      { var: 'muc#request_allow', type: 'boolean', label: 'Grant voice to this person?', values: ['false'] },
    ],
  });
}

/**
 * A muc#request form sent to the room. From a visitor it is a request for
 * voice (§7.13), passed to every moderator's sessions as an approval form.
 * From a moderator it is that form submitted back (§8.6): with
 * muc#request_allow true the named occupant gets voice, checked by the same
 * rules as a muc#admin role change (§8.3), announced like one. No request is
 * remembered: approving needs no earlier request, as granting voice by
 * muc#admin needs none.
 */
export async function voiceRequest(room: Room, aff: Affiliation, o: Occupant | undefined, realFull: string, form: DataForm, out: RoomOutput): Promise<void> {
  if (o === undefined) throw new StanzaError('not-acceptable', 'you are not in this room');
  if (form.type !== 'submit') return; // a moderator cancelling the approval form: the request is skipped
  const role = getValue(form, 'muc#role');
  if (role !== undefined && role !== 'participant') throw new StanzaError('bad-request', 'only voice (the participant role) can be requested');
  if (o.role === 'moderator') return approve(room, aff, o, form, out);
  // An occupant that has voice already has nothing to ask for.
  if (o.role !== 'visitor') return;
  const request = approvalForm(o.nick, realFull);
  for (const m of room.occupants.values()) {
    if (m.role !== 'moderator') continue;
    for (const full of m.sessions.keys()) await out.send(x('message', { from: room.jid, to: full, id: randomHex(6) }, request.clone()));
  }
}

async function approve(room: Room, aff: Affiliation, moderator: Occupant, form: DataForm, out: RoomOutput): Promise<void> {
  let allow: boolean | undefined;
  try {
    allow = getBoolean(form, 'muc#request_allow');
  } catch (e) {
    if (e instanceof DataFormError) throw new StanzaError('bad-request', e.message);
    throw e;
  }
  if (allow !== true) return;
  const nick = getValue(form, 'muc#roomnick');
  const jid = getValue(form, 'muc#jid');
  // The real JID the room wrote names one session; the nick is for clients that send only it.
  const target = (jid !== undefined ? room.occupantOf(jid) : undefined) ?? (nick !== undefined ? room.occupants.get(nick) : undefined);
  // The visitor left, or was given voice by someone else meanwhile: nothing is left to grant.
  if (target === undefined || target.role !== 'visitor') return;
  planAdminChanges(room, aff, moderator, x('query', { xmlns: NS_MUC_ADMIN }, x('item', { nick: target.nick, role: 'participant' })));
  target.role = 'participant';
  await out.broadcastPresence(room, target, { actor: moderator.nick });
}
