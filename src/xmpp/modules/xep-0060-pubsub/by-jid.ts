import { prefixRange, type Table } from '../../../storage/wide-column.js';
import { tryParseJid } from '../../../util/jid.js';
import type { PepStore } from '../xep-0163-pep/store.js';
import type { PepSubscriptions, Subscription } from '../xep-0163-pep/subscriptions.js';

/** Separator in the index's sort keys; XML forbids U+0000 in service JIDs, node names and JIDs alike. */
const SEP = '\u0000';
/** Partition of the rows saying that a service's indexes are complete; no bare JID contains U+0000. */
const BUILT_PK = '\u0000built';

const bareOf = (jid: string): string => tryParseJid(jid)?.bare ?? jid;

/**
 * The service's subscriptions, kept twice: in `pubsub_subscriptions` (pk =
 * service JID, a node's subscribers are one range) and in
 * `pubsub_subscribers` (pk = subscriber bare JID, sk = service + node + JID),
 * so that a user's own list (§5.6) and an account's deletion read that
 * subscriber's rows only, not every subscription of the service.
 *
 * Rows of two tables are not written atomically, so the order is chosen to
 * keep the index a superset of the subscriptions: its row is written before
 * the subscription and deleted after it. A crash in between leaves an index
 * row without a subscription, never the reverse, and reads check each index
 * row against the subscription table (one get per row of that subscriber),
 * so such a row lists nothing. Reads do not delete such rows: on a node that
 * is not running the service, that could undo a subscribe half done there.
 */
export class ServiceSubscriptions {
  constructor(
    private readonly subs: PepSubscriptions,
    private readonly index: Table,
  ) {}

  get(service: string, node: string, jid: string): Promise<Subscription | undefined> {
    return this.subs.get(service, node, jid);
  }

  ofNode(service: string, node: string): Promise<Subscription[]> {
    return this.subs.ofNode(service, node);
  }

  async add(service: string, node: string, jid: string): Promise<{ subscription: Subscription; created: boolean }> {
    await this.index.put(bareOf(jid), service + SEP + node + SEP + jid, '');
    return this.subs.add(service, node, jid);
  }

  async remove(service: string, node: string, jid: string): Promise<void> {
    await this.subs.remove(service, node, jid);
    await this.index.delete(bareOf(jid), service + SEP + node + SEP + jid);
  }

  async deleteNode(service: string, node: string): Promise<void> {
    for (const s of await this.subs.ofNode(service, node)) await this.remove(service, node, s.jid);
  }

  /** Every subscription of `bare` (its bare JID and its full JIDs) at the service, or at one of its nodes. */
  async ofSubscriber(service: string, bare: string, node?: string): Promise<Subscription[]> {
    const rows = await this.index.range(bare, prefixRange(service + SEP + (node === undefined ? '' : node + SEP)));
    const found = await Promise.all(
      rows.map((r) => {
        const [, node, jid] = r.sk.split(SEP) as [string, string, string];
        return this.subs.get(service, node, jid);
      }),
    );
    return found.filter((s): s is Subscription => s !== undefined);
  }
}

/**
 * Which nodes of the service a bare JID has an affiliation with: table
 * `pubsub_affiliated`, pk = bare JID, sk = service + node. The affiliations
 * themselves stay in the node row (node.ts), read with it on every request;
 * this only says which node rows to read for one JID's list (§5.7) and an
 * account's deletion. Same order as the subscriptions' index: a row is
 * written before the node row names the JID and deleted after it no longer
 * does, and readers take the affiliation from the node row.
 */
export class AffiliationIndex {
  constructor(private readonly index: Table) {}

  /** Call before storing a node row whose affiliations go from `before` to `after`. */
  async adding(service: string, node: string, before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): Promise<void> {
    for (const bare of Object.keys(after)) if (!(bare in before)) await this.index.put(bare, service + SEP + node, '');
  }

  /** Call after storing (or deleting, `after` then empty) the node row. */
  async removing(service: string, node: string, before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): Promise<void> {
    for (const bare of Object.keys(before)) if (!(bare in after)) await this.index.delete(bare, service + SEP + node);
  }

  /** Nodes of the service `bare` may have an affiliation with (read each node row for what it is). */
  async nodesOf(service: string, bare: string): Promise<string[]> {
    return (await this.index.range(bare, prefixRange(service + SEP))).map((r) => r.sk.slice(service.length + 1));
  }
}

/**
 * Which nodes of the service each bare JID created and has not deleted
 * (table `pubsub_created`, pk = creator's bare JID, sk = service + node), so
 * that maxNodesPerCreator counts that creator's rows, not every node. Written
 * before the node row and deleted after it; a count reads each node row back.
 */
export class CreatorIndex {
  constructor(private readonly index: Table) {}

  async added(service: string, node: string, creator: string): Promise<void> {
    await this.index.put(creator, service + SEP + node, '');
  }

  async removed(service: string, node: string, creator: string): Promise<void> {
    await this.index.delete(creator, service + SEP + node);
  }

  /** Nodes of the service `bare` may have created (read each node row to be sure). */
  async nodesOf(service: string, bare: string): Promise<string[]> {
    return (await this.index.range(bare, prefixRange(service + SEP))).map((r) => r.sk.slice(service.length + 1));
  }
}

/** Who created a node: its `creator`, or for a row from before that was kept, its first owner. */
export function creatorOf(record: { affiliations: Record<string, string>; creator?: string }): string | undefined {
  return record.creator ?? Object.keys(record.affiliations)[0];
}

/**
 * Fills the indexes from a store written before they existed, once per
 * service: a row in `pubsub_subscribers` says the service's rows are indexed,
 * and every path that has written since keeps them so. We rebuild at start
 * rather than keep the whole-service scan as a fallback, since a fallback
 * would need to know which rows lack an index row, which is that same scan
 * on every request; this way the scan happens once per store. Writing an
 * index row twice is harmless, so two cluster nodes starting together may
 * both rebuild; a subscription ended meanwhile leaves at most an index row
 * that reads skip (see ServiceSubscriptions). In a rolling upgrade, a
 * cluster node still on the code before this one writes no index rows: what
 * it changes after the rebuild is missed until the `pubsub_subscribers` row
 * (pk U+0000 'built', sk service JID) is deleted and a node restarts. Returns
 * the index rows written.
 */
export async function rebuildIndexes<C extends { affiliations: Record<string, string>; creator?: string }>(
  service: string,
  store: PepStore<C>,
  subs: PepSubscriptions,
  tables: { subscribers: Table; affiliated: Table; created: Table },
): Promise<number> {
  const { subscribers, affiliated, created } = tables;
  if ((await subscribers.get(BUILT_PK, service)) !== undefined) return 0;
  let rows = 0;
  for (const { node, config } of await store.allNodes(service)) {
    for (const bare of Object.keys(config.affiliations)) {
      await affiliated.put(bare, service + SEP + node, '');
      rows++;
    }
    const creator = creatorOf(config);
    if (creator !== undefined) {
      await created.put(creator, service + SEP + node, '');
      rows++;
    }
  }
  for (const s of await subs.all(service)) {
    await subscribers.put(bareOf(s.jid), service + SEP + s.node + SEP + s.jid, '');
    rows++;
  }
  await subscribers.put(BUILT_PK, service, '1');
  return rows;
}
