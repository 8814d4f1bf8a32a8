import { tryParseJid, type Jid } from '../../../util/jid.js';
import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { NS_MUC_USER } from './ns.js';
import { affRank, type Occupant, type Room } from './room.js';

/** What a room does for the `<invite/>`s and `<decline/>`s of one message. */
export interface MediatedInvitations {
  /** The messages the room sends: declines to the inviters, invitations to the invitees. */
  messages: XmlElement[];
  /** Invitees who become members first (members-only rooms, §7.8.2). */
  newMembers: string[];
}

/**
 * §7.8.2 mediated invitations and §7.8.3 declines, sent by `from` (occupant
 * `o` when joined) in the `muc#user` element `ux`. Checked as a whole: an
 * invitation that may not be sent fails the message, declines included.
 */
export function mediatedInvitations(room: Room, o: Occupant | undefined, from: Jid, ux: XmlElement): MediatedInvitations {
  const messages: XmlElement[] = [];
  const newMembers: string[] = [];
  for (const decline of ux.getChildren('decline')) {
    const to = tryParseJid(decline.attrs.to);
    if (to === null) throw new StanzaError('jid-malformed', 'decline needs a to');
    const reason = decline.getChildText('reason');
    messages.push(x('message', { from: room.jid, to: to.full }, x('x', { xmlns: NS_MUC_USER }, x('decline', { from: from.bare }, reason !== undefined ? x('reason', null, reason) : undefined))));
  }
  const invites = ux.getChildren('invite');
  if (invites.length === 0) return { messages, newMembers };
  if (o === undefined) throw new StanzaError('not-acceptable', 'join the room before inviting');
  // muc#roomconfig_allowinvites says whether occupants may invite others (§10.2), in any room, not only
  // members-only ones: the owner who set it to 0 was shown that occupants may not. Admins always may (§7.8.2).
  const privileged = affRank(room.affiliation(from.bare)) >= affRank('admin');
  if (!privileged && !room.config.allowInvites) throw new StanzaError('forbidden', 'only admins may invite to this room');
  for (const invite of invites) {
    const to = tryParseJid(invite.attrs.to);
    if (to === null) throw new StanzaError('jid-malformed', 'invite needs a to');
    if (room.config.membersOnly && room.affiliation(to.bare) === 'none') newMembers.push(to.bare);
    const reason = invite.getChildText('reason');
    const out = x('x', { xmlns: NS_MUC_USER }, x('invite', { from: from.full }, reason !== undefined ? x('reason', null, reason) : undefined));
    if (room.config.password !== '') out.append(x('password', null, room.config.password));
    messages.push(x('message', { from: room.jid, to: to.full, id: randomHex(6) }, out, x('body', null, `${from.bare} invites you to the room ${room.jid}${reason ? `: ${reason}` : ''}`)));
  }
  return { messages, newMembers };
}
