import type { Table } from '../../../storage/wide-column.js';
import { KeyLocks } from '../../../util/key-locks.js';
import { randomHex } from '../../../util/random-token.js';

export type Subscription = 'none' | 'to' | 'from' | 'both';

/** One roster item as stored (RFC 6121 §2.1.2). */
export interface RosterItem {
  jid: string;
  name?: string;
  subscription: Subscription;
  /** Outbound subscription request pending (RFC 6121 §2.1.2.2). */
  ask?: 'subscribe';
  groups: string[];
  /** Subscription pre-approved by the user (RFC 6121 §3.4). */
  approved?: boolean;
}

/** The contact receives the owner's presence (RFC 6121 §3.1: it is subscribed to the owner). */
export const subscribedFrom = (item: Pick<RosterItem, 'subscription'> | undefined): boolean => item?.subscription === 'from' || item?.subscription === 'both';
/** The owner receives the contact's presence. */
export const subscribedTo = (item: Pick<RosterItem, 'subscription'> | undefined): boolean => item?.subscription === 'to' || item?.subscription === 'both';

const VERSION_SK = 'version';

/**
 * Roster persistence: one partition per account (pk = owner bare JID, sk =
 * contact bare JID), plus a per-account version counter for RFC 6121 §2.6
 * roster versioning, and pending inbound subscription requests.
 */
export class RosterStore {
  private readonly locks = new KeyLocks();

  constructor(
    private readonly items: Table,
    private readonly meta: Table,
    private readonly pending: Table,
  ) {}

  /** Serialises read-modify-write cycles per account. */
  withLock<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.with([owner], fn);
  }


  async all(owner: string): Promise<RosterItem[]> {
    const rows = await this.items.range(owner);
    return rows.map((r) => JSON.parse(r.value) as RosterItem);
  }

  async get(owner: string, contact: string): Promise<RosterItem | undefined> {
    return this.items.getJson<RosterItem>(owner, contact);
  }

  async put(owner: string, item: RosterItem): Promise<string> {
    await this.items.putJson(owner, item.jid, item);
    return this.bump(owner);
  }

  async remove(owner: string, contact: string): Promise<string> {
    await this.items.delete(owner, contact);
    return this.bump(owner);
  }

  async version(owner: string): Promise<string> {
    return (await this.meta.get(owner, VERSION_SK)) ?? '0';
  }

  /**
   * A new version: the counter, then random hex. A counter alone repeats: after the account is
   * deleted (its counter with it) a new account of the name counts the same numbers for another
   * roster, and two nodes changing one roster at once both write n + 1; a client holding such a
   * version would be told its cached roster is current (RFC 6121 §2.6.3). Versions are opaque to
   * clients; those stored as bare numbers before go on counting.
   */
  private async bump(owner: string): Promise<string> {
    const next = `${Number.parseInt(await this.version(owner), 10) + 1}-${randomHex(4)}`;
    await this.meta.put(owner, VERSION_SK, next);
    return next;
  }

  /** Inbound subscription requests awaiting the user's answer, kept across logins (RFC 6121 §3.1.3). */
  async addPending(owner: string, contact: string, stanza: string): Promise<void> {
    await this.pending.put(owner, contact, stanza);
  }

  async removePending(owner: string, contact: string): Promise<void> {
    await this.pending.delete(owner, contact);
  }

  async allPending(owner: string): Promise<{ contact: string; stanza: string }[]> {
    return (await this.pending.range(owner)).map((r) => ({ contact: r.sk, stanza: r.value }));
  }

  async hasPending(owner: string, contact: string): Promise<boolean> {
    return (await this.pending.get(owner, contact)) !== undefined;
  }

  async deleteAccount(owner: string): Promise<void> {
    await Promise.all([this.items.deletePartition(owner), this.meta.deletePartition(owner), this.pending.deletePartition(owner)]);
  }
}
