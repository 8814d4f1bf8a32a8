import { prefixRange, type Table } from '../../../storage/wide-column.js';
import { randomHex } from '../../../util/random-token.js';

/** One explicit subscription (XEP-0060 §6.1) to a PEP node. */
export interface Subscription {
  node: string;
  /** The JID that subscribed and receives the notifications: the subscriber's bare JID or one of its full JIDs. */
  jid: string;
  subid: string;
}

/** Separator between node name and subscriber JID in sort keys; XML forbids U+0000 in both. */
const SEP = '\u0000';

/**
 * Explicit subscriptions to an account's PEP nodes, beside the implicit ones
 * that presence and `+notify` give (notifier.ts). They are how an entity
 * without a presence subscription follows an open node, and what XEP-0163 §5
 * requires a PEP service to support. Table `pep_subscriptions`, one partition
 * per owner: sk = node + U+0000 + subscriber JID, so a node's subscribers are
 * one range.
 */
export class PepSubscriptions {
  constructor(private readonly table: Table) {}

  get(owner: string, node: string, jid: string): Promise<Subscription | undefined> {
    return this.table.getJson<Subscription>(owner, node + SEP + jid);
  }

  /**
   * Subscribes `jid`; subscribing again keeps the existing subscription
   * (XEP-0060 §6.1.6 allows one per JID here). `created` says which.
   */
  async add(owner: string, node: string, jid: string): Promise<{ subscription: Subscription; created: boolean }> {
    const existing = await this.get(owner, node, jid);
    if (existing !== undefined) return { subscription: existing, created: false };
    const subscription: Subscription = { node, jid, subid: randomHex(8) };
    await this.table.putJson(owner, node + SEP + jid, subscription);
    return { subscription, created: true };
  }

  /** Ends `jid`'s subscription to the node, if it has one. */
  remove(owner: string, node: string, jid: string): Promise<void> {
    return this.table.delete(owner, node + SEP + jid);
  }

  async ofNode(owner: string, node: string): Promise<Subscription[]> {
    return (await this.table.range(owner, prefixRange(node + SEP))).map((r) => JSON.parse(r.value) as Subscription);
  }

  async all(owner: string): Promise<Subscription[]> {
    return (await this.table.range(owner)).map((r) => JSON.parse(r.value) as Subscription);
  }

  async deleteNode(owner: string, node: string): Promise<void> {
    for (const s of await this.ofNode(owner, node)) await this.table.delete(owner, node + SEP + s.jid);
  }

  deleteAccount(owner: string): Promise<void> {
    return this.table.deletePartition(owner);
  }
}
