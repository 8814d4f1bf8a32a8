import type { XmlElement } from '../../../util/xml.js';
import type { RoomConfig } from './config.js';
import { NS_SID } from './ns.js';

/**
 * A room's state: what is persisted (configuration, subject, affiliations)
 * and what lives only on this node (occupants, history, the lock of a room
 * that is being created). No I/O here; the service drives it.
 */
export type Affiliation = 'owner' | 'admin' | 'member' | 'none' | 'outcast';
export type Role = 'moderator' | 'participant' | 'visitor' | 'none';

export const AFFILIATIONS: ReadonlySet<string> = new Set<Affiliation>(['owner', 'admin', 'member', 'none', 'outcast']);
export const ROLES: ReadonlySet<string> = new Set<Role>(['moderator', 'participant', 'visitor', 'none']);

const AFF_RANK: Record<Affiliation, number> = { outcast: 0, none: 1, member: 2, admin: 3, owner: 4 };
export function affRank(a: Affiliation): number {
  return AFF_RANK[a];
}

/** Whether a user with affiliation `a` may hold a reserved nick: members, admins and owners (registering makes a user a member). */
export function mayReserveNick(a: Affiliation): boolean {
  return affRank(a) >= affRank('member');
}

export interface Subject {
  text: string;
  /** Nick of who set it; empty when set by the room. */
  nick: string;
  /** When it was last set or cleared; absent while no one has (and in rooms stored before it was kept). */
  setMs?: number;
}

/** What is stored for a persistent room. */
export interface StoredRoom {
  config: RoomConfig;
  subject: Subject;
  createdMs: number;
}

export interface Occupant {
  nick: string;
  /** Real bare JID. */
  bare: string;
  /** Real full JIDs joined under this nick (one account may join from several clients), with their last presence. */
  sessions: Map<string, XmlElement>;
  /** The presence shown to the room: the latest any of its sessions sent. */
  presence: XmlElement;
  role: Role;
}

export interface HistoryEntry {
  /** The message as broadcast (from = occupant JID), without `to`. */
  stanza: XmlElement;
  ms: number;
  nick: string;
}

export class Room {
  readonly jid: string;
  config: RoomConfig;
  subject: Subject;
  createdMs: number;
  /** A room being created stays locked until its owner configures it (§10.1.1). */
  locked = false;
  /** Affiliations other than 'none', by bare JID. */
  readonly affiliations = new Map<string, Affiliation>();
  /**
   * Nicks reserved by registering with the room (§7.10), by bare JID, and who holds each (by nick): a join
   * checks the second on every attempt, so it is a map, not a walk through the members.
   */
  private readonly nickByBare = new Map<string, string>();
  private readonly bareByNick = new Map<string, string>();
  /** By nick. */
  readonly occupants = new Map<string, Occupant>();
  /** Real full JID → nick. */
  readonly byReal = new Map<string, string>();
  readonly history: HistoryEntry[] = [];
  /**
   * XEP-0486: the room's vCard as its owner set it (a serialised `<vCard/>`), null when none. Kept in memory
   * for the room's life, as its history is, and bounded like user vCards; stored in a row of its own
   * (store.ts), since it is far larger than the rest of the room and changes apart from it.
   */
  vcard: string | null = null;
  /** SHA-1 of each PHOTO of `vcard` (XEP-0153 hashes), which disco#info shows without reading the vCard. */
  avatarHashes: readonly string[] = [];
  /** Serialises the handling of stanzas for this room. */
  queue: Promise<void> = Promise.resolve();

  constructor(jid: string, config: RoomConfig, subject: Subject = { text: '', nick: '' }, createdMs = Date.now()) {
    this.jid = jid;
    this.config = config;
    this.subject = subject;
    this.createdMs = createdMs;
  }

  affiliation(bare: string): Affiliation {
    return this.affiliations.get(bare) ?? 'none';
  }

  setAffiliation(bare: string, a: Affiliation): void {
    if (a === 'none') this.affiliations.delete(bare);
    else this.affiliations.set(bare, a);
    // A reserved nick belongs to a member (or higher): losing that affiliation frees it, as in Prosody.
    if (!mayReserveNick(a)) this.reserveNick(bare, undefined);
  }

  /** The nick `bare` registered with the room (§7.10), if any. */
  reservedNick(bare: string): string | undefined {
    return this.nickByBare.get(bare);
  }

  /** The bare JID that reserved `nick`, if anyone did. */
  nickReservedBy(nick: string): string | undefined {
    return this.bareByNick.get(nick);
  }

  /** Reserves `nick` for `bare` (undefined: frees its nick); the caller has checked that nobody else holds it. */
  reserveNick(bare: string, nick: string | undefined): void {
    const before = this.nickByBare.get(bare);
    if (before !== undefined) this.bareByNick.delete(before);
    if (nick === undefined) {
      this.nickByBare.delete(bare);
      return;
    }
    this.nickByBare.set(bare, nick);
    this.bareByNick.set(nick, bare);
  }

  owners(): string[] {
    return [...this.affiliations].filter(([, a]) => a === 'owner').map(([j]) => j);
  }

  /** The role an occupant gets from its affiliation (§5.1.2), or none when it may not be in the room. */
  defaultRole(a: Affiliation): Role {
    if (a === 'owner' || a === 'admin') return 'moderator';
    if (a === 'outcast') return 'none';
    if (a === 'member') return 'participant';
    if (this.config.membersOnly) return 'none';
    return this.config.moderated ? 'visitor' : 'participant';
  }

  occupantOf(realFull: string): Occupant | undefined {
    const nick = this.byReal.get(realFull);
    return nick === undefined ? undefined : this.occupants.get(nick);
  }

  /** The occupant an account has joined as, from any of its sessions. */
  occupantByBare(bare: string): Occupant | undefined {
    for (const o of this.occupants.values()) if (o.bare === bare) return o;
    return undefined;
  }

  addSession(o: Occupant, realFull: string, presence: XmlElement): void {
    this.occupants.set(o.nick, o);
    o.sessions.set(realFull, presence);
    o.presence = presence;
    this.byReal.set(realFull, o.nick);
  }

  /**
   * Removes one session; true when it was the occupant's last. Otherwise the
   * occupant is shown with the presence of a remaining session (the latest
   * joined), not that of a client which is gone.
   */
  removeSession(o: Occupant, realFull: string): boolean {
    o.sessions.delete(realFull);
    this.byReal.delete(realFull);
    if (o.sessions.size > 0) {
      o.presence = [...o.sessions.values()].at(-1)!;
      return false;
    }
    this.occupants.delete(o.nick);
    return true;
  }

  removeOccupant(o: Occupant): void {
    for (const s of o.sessions.keys()) this.byReal.delete(s);
    this.occupants.delete(o.nick);
  }

  isModerator(o: Occupant | undefined): boolean {
    return o !== undefined && o.role === 'moderator';
  }

  addHistory(stanza: XmlElement, nick: string, ms = Date.now()): void {
    const max = this.config.historyLength;
    if (max <= 0) {
      this.history.length = 0;
      return;
    }
    this.history.push({ stanza, ms, nick });
    if (this.history.length > max) this.history.splice(0, this.history.length - max);
  }

  /** Puts `tombstone` in place of the history entry the room archived as `stanzaId` (a retracted message), keeping that stanza id on it. */
  replaceInHistory(stanzaId: string, tombstone: XmlElement): void {
    for (const entry of this.history) {
      const sid = entry.stanza.getChild('stanza-id', NS_SID);
      if (sid?.attrs.id !== stanzaId || sid.attrs.by !== this.jid) continue;
      const replaced = tombstone.clone();
      replaced.append(sid.clone());
      entry.stanza = replaced;
    }
  }

  toStored(): StoredRoom {
    return { config: this.config, subject: this.subject, createdMs: this.createdMs };
  }
}
