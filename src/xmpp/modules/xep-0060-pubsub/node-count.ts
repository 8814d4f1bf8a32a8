import type { Table } from '../../../storage/wide-column.js';
import { KeyLocks } from '../../../util/key-locks.js';
import type { PepStore } from '../xep-0163-pep/store.js';

/** Partition of the count rows in `pubsub_created`, whose other partitions are bare JIDs: none contains U+0000. */
const COUNT_PK = '\u0000count';

/**
 * How many nodes each service holds, one row per service (pk U+0000 'count',
 * sk service JID), so that maxNodes is checked on every create by reading
 * one row, not up to maxNodes rows of the service's partition.
 *
 * Changes are read-modify-write under a lock per service in this process;
 * in a cluster every create and delete of a service runs on the one node
 * that runs it (placement.ts), as the node locks rely on too. They run
 * inside the node's lock, so a create counts before its node row is written
 * and a delete after its row is gone: a crash between the two leaves the
 * count one too high, which refuses a create early rather than letting the
 * service grow past maxNodes.
 */
export class NodeCount {
  private readonly locks = new KeyLocks();

  constructor(private readonly table: Table) {}

  /** Counts one more node unless the service holds `max` already; false when full. */
  reserve(service: string, max: number): Promise<boolean> {
    return this.locks.with([service], async () => {
      const n = await this.read(service);
      if (n >= max) return false;
      await this.table.put(COUNT_PK, service, String(n + 1));
      return true;
    });
  }

  /** Counts one node less: a node deleted, or a create that reserved and then failed. */
  release(service: string): Promise<void> {
    return this.locks.with([service], async () => {
      await this.table.put(COUNT_PK, service, String(Math.max(0, (await this.read(service)) - 1)));
    });
  }

  /**
   * Counts a store's nodes once, when it has no count row yet (written
   * before the count existed): the one whole-partition read, at start, as
   * rebuildIndexes does for the indexes by JID. Returns the count written, or
   * null when the row was there.
   */
  async rebuild<C>(service: string, store: PepStore<C>): Promise<number | null> {
    return this.locks.with([service], async () => {
      if ((await this.table.get(COUNT_PK, service)) !== undefined) return null;
      const n = (await store.allNodes(service)).length;
      await this.table.put(COUNT_PK, service, String(n));
      return n;
    });
  }

  private async read(service: string): Promise<number> {
    const row = await this.table.get(COUNT_PK, service);
    return row === undefined ? 0 : Number(row);
  }
}
