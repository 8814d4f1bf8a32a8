import { tryParseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { NS_MUC_ADMIN } from './ns.js';
import { AFFILIATIONS, affRank, ROLES, type Affiliation, type Occupant, type Role, type Room } from './room.js';

/** One change of a `muc#admin` set, checked and ready to apply. */
export type AdminChange =
  | { kind: 'role'; target: Occupant; role: Role; reason?: string }
  | { kind: 'aff'; jid: string; aff: Affiliation; reason?: string };

/**
 * The answer to a `muc#admin` get (§9.5, §8.5): the users with one
 * affiliation (admins and owners; members too in a members-only room) or
 * the occupants with one role (moderators only).
 */
export function adminList(room: Room, aff: Affiliation, o: Occupant | undefined, payload: XmlElement): XmlElement {
  const item = payload.getChild('item');
  if (item === undefined) throw new StanzaError('bad-request', 'which list?');
  const wantAff = item.attrs.affiliation;
  const wantRole = item.attrs.role;
  const out = x('query', { xmlns: NS_MUC_ADMIN });
  if (wantAff !== undefined) {
    if (!AFFILIATIONS.has(wantAff) || wantAff === 'none') throw new StanzaError('bad-request', 'unknown affiliation');
    if (affRank(aff) < affRank('admin') && !(wantAff === 'member' && room.config.membersOnly && aff === 'member')) throw new StanzaError('forbidden', 'only admins may see affiliation lists');
    // A member reading the member list learns who is a member, not which nick is whose: in a
    // semi-anonymous room that pairing is for those who may see real JIDs (§7.2.3).
    const pairNicks = affRank(aff) >= affRank('admin') || room.config.whois === 'anyone';
    for (const [jid, a] of room.affiliations) {
      if (a !== wantAff) continue;
      const present = pairNicks ? room.occupantByBare(jid) : undefined;
      // §9.5: the nick a member registered (§7.10) when it is away.
      const nick = present?.nick ?? (pairNicks ? room.reservedNick(jid) : undefined);
      out.append(x('item', { affiliation: a, jid, nick, role: present?.role }));
    }
    return out;
  }
  if (wantRole !== undefined) {
    if (!ROLES.has(wantRole) || wantRole === 'none') throw new StanzaError('bad-request', 'unknown role');
    if (o === undefined || o.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators may see role lists');
    for (const occ of room.occupants.values()) {
      if (occ.role === wantRole) out.append(x('item', { role: occ.role, nick: occ.nick, affiliation: room.affiliation(occ.bare), jid: [...occ.sessions.keys()][0] }));
    }
    return out;
  }
  throw new StanzaError('bad-request', 'give an affiliation or a role');
}

/**
 * The changes of a `muc#admin` set by a user with affiliation `aff`
 * (occupant `actor`, if joined), all checked before any is applied: §9
 * applies a batch entirely or not at all. Throws the error of the first
 * item that may not be done.
 */
export function planAdminChanges(room: Room, aff: Affiliation, actor: Occupant | undefined, payload: XmlElement): AdminChange[] {
  const items = payload.getChildren('item');
  if (items.length === 0) throw new StanzaError('bad-request', 'no item');
  const changes: AdminChange[] = [];
  const affs = new Map(room.affiliations);
  for (const item of items) {
    const reason = item.getChildText('reason');
    if (item.attrs.role !== undefined && item.attrs.affiliation === undefined) {
      const role = item.attrs.role;
      if (!ROLES.has(role)) throw new StanzaError('bad-request', 'unknown role');
      const target = item.attrs.nick !== undefined ? room.occupants.get(item.attrs.nick) : undefined;
      if (target === undefined) throw new StanzaError('item-not-found', 'no occupant with that nickname');
      if (actor === undefined || actor.role !== 'moderator') throw new StanzaError('forbidden', 'only moderators may change roles');
      const targetAff = room.affiliation(target.bare);
      if (role === 'moderator' || target.role === 'moderator') {
        if (affRank(aff) < affRank('admin')) throw new StanzaError('not-allowed', 'only admins may grant or revoke moderation');
      }
      if (role !== 'moderator' && affRank(targetAff) >= affRank('admin')) throw new StanzaError('not-allowed', 'admins and owners keep their role');
      if (affRank(targetAff) > affRank(aff)) throw new StanzaError('not-allowed', 'that occupant outranks you');
      changes.push({ kind: 'role', target, role: role as Role, reason });
      continue;
    }
    const a = item.attrs.affiliation;
    if (a === undefined || !AFFILIATIONS.has(a)) throw new StanzaError('bad-request', 'give a role or an affiliation');
    let jid: string | undefined;
    if (item.attrs.jid !== undefined) {
      const j = tryParseJid(item.attrs.jid);
      if (j === null) throw new StanzaError('jid-malformed');
      jid = j.bare;
    } else if (item.attrs.nick !== undefined) jid = room.occupants.get(item.attrs.nick)?.bare;
    if (jid === undefined) throw new StanzaError('item-not-found', 'no such user');
    const current = affs.get(jid) ?? 'none';
    if (affRank(aff) < affRank('admin')) throw new StanzaError('forbidden', 'only admins may change affiliations');
    if (aff !== 'owner' && (a === 'owner' || a === 'admin' || current === 'owner' || current === 'admin')) throw new StanzaError('not-allowed', 'only owners may change admins and owners');
    if (a === 'none') affs.delete(jid);
    else affs.set(jid, a as Affiliation);
    changes.push({ kind: 'aff', jid, aff: a as Affiliation, reason });
  }
  if (![...affs.values()].includes('owner')) throw new StanzaError('conflict', 'a room keeps at least one owner');
  return changes;
}
