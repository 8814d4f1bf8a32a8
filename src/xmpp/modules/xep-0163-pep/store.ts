import { prefixRange, type Table } from '../../../storage/wide-column.js';
import type { NodeConfig } from './config.js';
import { KeyLocks } from '../../../util/key-locks.js';
import type { XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';

/** One published item as stored: its id and the payload's XML. */
export interface StoredItem {
  id: string;
  /** Serialised payload element, or '' for an item without payload. */
  xml: string;
  /** Sort key within the node (publication order). */
  seq: string;
  /** Full JID of the publisher (XEP-0060 §7.1.2 `publisher`). */
  publisher: string;
}

/** Separator between node name and sequence in item sort keys; nodes cannot contain it (XML forbids U+0000). */
const SEP = '\u0000';
const SEQ_WIDTH = 20;

/**
 * PEP persistence. Two tables, both one partition per account:
 *  - `pep_nodes`: sk = node name, value = JSON NodeConfig;
 *  - `pep_items`: sk = node + U+0000 + zero-padded sequence, value = JSON StoredItem.
 * Items of a node are one contiguous, publication-ordered range, so the
 * latest N is a reverse range read with a limit and trimming to max_items
 * deletes the oldest rows.
 *
 * `C` is what a node row holds: a PEP node's configuration, or whatever a
 * service built on the same layout keeps per node (XEP-0060's generic
 * service adds the node's affiliations); the partition is then the service JID.
 */
export class PepStore<C = NodeConfig> {
  private readonly locks = new KeyLocks();

  constructor(
    private readonly nodes: Table,
    private readonly items: Table,
  ) {}

  /** Serialises read-modify-write cycles (publish, retract, configure) per account. */
  withLock<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.with([owner], fn);
  }


  getNode(owner: string, node: string): Promise<C | undefined> {
    return this.nodes.getJson<C>(owner, node);
  }

  async putNode(owner: string, node: string, config: C): Promise<void> {
    await this.nodes.putJson(owner, node, config);
  }

  async allNodes(owner: string): Promise<{ node: string; config: C }[]> {
    const rows = await this.nodes.range(owner);
    return rows.map((r) => ({ node: r.sk, config: JSON.parse(r.value) as C }));
  }

  /**
   * Up to `limit` nodes in name order after `after` (exclusive), or, with
   * `before` ('' for the end), the `limit` names just before it, newest name
   * first: one key-range read for a page of disco#items.
   */
  async nodesPage(owner: string, from: { after?: string; before?: string }, limit: number): Promise<{ node: string; config: C }[]> {
    const options =
      from.before !== undefined
        ? { reverse: true, limit, ...(from.before === '' ? {} : { end: from.before, endExclusive: true }) }
        : { limit, ...(from.after === undefined ? {} : { start: from.after, startExclusive: true }) };
    const rows = await this.nodes.range(owner, options);
    return rows.map((r) => ({ node: r.sk, config: JSON.parse(r.value) as C }));
  }

  async countNodes(owner: string, atMost: number): Promise<number> {
    return (await this.nodes.range(owner, { limit: atMost })).length;
  }

  /** Items of a node, oldest first; with `latest`, only the newest that many. */
  async list(owner: string, node: string, latest?: number): Promise<StoredItem[]> {
    const rows = await this.items.range(owner, { ...prefixRange(node + SEP), reverse: true, limit: latest });
    return rows.map((r) => JSON.parse(r.value) as StoredItem).reverse();
  }

  async last(owner: string, node: string): Promise<StoredItem | undefined> {
    return (await this.list(owner, node, 1))[0];
  }

  /**
   * Stores an item as the node's newest (an item republished under its id
   * moves to the end, XEP-0060 §7.1.2) and trims the node to `keep` items;
   * with `evict` false, a new item that would push one out is not stored
   * and null is returned. Call under withLock.
   */
  async publish(owner: string, node: string, item: Omit<StoredItem, 'seq'>, keep: number, evict = true): Promise<StoredItem | null> {
    const all = await this.list(owner, node);
    if (!evict && all.length >= keep && !all.some((i) => i.id === item.id)) return null;
    const lastSeq = all.length > 0 ? BigInt(all[all.length - 1]!.seq) : 0n;
    const now = BigInt(Date.now()) * 1000n;
    const seq = (now > lastSeq ? now : lastSeq + 1n).toString().padStart(SEQ_WIDTH, '0');
    const stored: StoredItem = { ...item, seq };
    const remaining = all.filter((i) => i.id !== item.id);
    for (const old of all) if (old.id === item.id) await this.items.delete(owner, node + SEP + old.seq);
    await this.items.putJson(owner, node + SEP + seq, stored);
    const excess = remaining.length + 1 - keep;
    for (let i = 0; i < excess; i++) await this.items.delete(owner, node + SEP + remaining[i]!.seq);
    return stored;
  }

  /** Keeps only the newest `keep` items (after max_items was lowered). */
  async trim(owner: string, node: string, keep: number): Promise<void> {
    const all = await this.list(owner, node);
    for (let i = 0; i < all.length - keep; i++) await this.items.delete(owner, node + SEP + all[i]!.seq);
  }

  /** Removes an item by id; false when the node has none with that id. */
  async retract(owner: string, node: string, id: string): Promise<boolean> {
    let found = false;
    for (const i of await this.list(owner, node)) {
      if (i.id !== id) continue;
      await this.items.delete(owner, node + SEP + i.seq);
      found = true;
    }
    return found;
  }

  async purge(owner: string, node: string): Promise<void> {
    for (const i of await this.list(owner, node)) await this.items.delete(owner, node + SEP + i.seq);
  }

  async deleteNode(owner: string, node: string): Promise<void> {
    await this.purge(owner, node);
    await this.nodes.delete(owner, node);
  }

  async deleteAccount(owner: string): Promise<void> {
    await this.items.deletePartition(owner);
    await this.nodes.deletePartition(owner);
  }
}

/**
 * The items an `<items/>` request asks for (XEP-0060 §6.5): those named by
 * id (§6.5.8, missing ids left out), else the newest `max_items` (§6.5.7),
 * else all; oldest first. Shared by PEP and the generic pubsub service.
 */
export async function requestedItems(store: PepStore<unknown>, owner: string, node: string, el: XmlElement): Promise<StoredItem[]> {
  const ids = el.getChildren('item').map((i) => i.attrs.id).filter((id): id is string => id !== undefined);
  if (ids.length > 0) {
    const wanted = new Set(ids);
    return (await store.list(owner, node)).filter((i) => wanted.has(i.id));
  }
  const max = el.attrs.max_items;
  if (max === undefined) return store.list(owner, node);
  const n = Number(max);
  if (!Number.isInteger(n) || n < 1) throw new StanzaError('bad-request', 'max_items must be a positive integer');
  return store.list(owner, node, n);
}
