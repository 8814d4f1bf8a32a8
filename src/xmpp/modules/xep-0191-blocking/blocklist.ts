import type { Table } from '../../../storage/wide-column.js';
import type { Jid } from '../../../util/jid.js';
import { evictSecondChance, type SecondChance } from '../../../util/second-chance.js';

/**
 * XEP-0191 §5 (JID matching, as XEP-0016): an item blocks `user@domain/res`
 * exactly; `user@domain` with any resource; `domain/res` exactly; `domain`
 * itself, anything at it, and its subdomains.
 */
export function matches(items: ReadonlySet<string>, jid: Jid): boolean {
  if (items.size === 0) return false;
  if (items.has(jid.full) || items.has(jid.bare)) return true;
  if (jid.resource !== '' && items.has(`${jid.domain}/${jid.resource}`)) return true;
  let domain = jid.domain;
  for (;;) {
    if (items.has(domain)) return true;
    const dot = domain.indexOf('.');
    if (dot === -1) return false;
    domain = domain.slice(dot + 1);
  }
}

const NOBODY: ReadonlySet<string> = new Set<string>();

interface Cached extends SecondChance {
  items: ReadonlySet<string>;
  loadedAt: number;
}

/**
 * Block lists (pk = owner bare JID, sk = blocked JID) behind a bounded cache:
 * every routed stanza to a local account asks for its recipient's list, so
 * the list must usually come from memory. Changes made on this node update
 * the cache at once; `ttlMs` bounds how stale a list changed on another
 * cluster node can be here.
 */
export class Blocklists {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly table: Table,
    private readonly maxCached: number,
    private readonly ttlMs: number,
  ) {}

  /**
   * The list from memory, or undefined when it must be read: every routed
   * stanza asks, so the usual answer comes without a promise.
   */
  cached(owner: string): ReadonlySet<string> | undefined {
    const hit = this.cache.get(owner);
    if (hit === undefined || Date.now() - hit.loadedAt >= this.ttlMs) return undefined;
    hit.recent = true; // a flag, not a re-insertion: see evictSecondChance
    return hit.items;
  }

  async get(owner: string): Promise<ReadonlySet<string>> {
    const hit = this.cached(owner);
    if (hit !== undefined) return hit;
    const rows = await this.table.range(owner);
    // Most accounts block no one: they share one empty set instead of ~240 bytes each in the cache.
    const items = rows.length === 0 ? NOBODY : new Set(rows.map((r) => r.sk));
    this.remember(owner, items);
    return items;
  }

  async add(owner: string, jids: readonly string[]): Promise<void> {
    for (const j of jids) await this.table.put(owner, j, '');
    this.cache.delete(owner);
  }

  async remove(owner: string, jids: readonly string[]): Promise<void> {
    for (const j of jids) await this.table.delete(owner, j);
    this.cache.delete(owner);
  }

  async clear(owner: string): Promise<void> {
    await this.table.deletePartition(owner);
    this.cache.delete(owner);
  }

  /** Keeps at most `maxCached` lists; a new one is first to go unless it is read again. */
  private remember(owner: string, items: ReadonlySet<string>): void {
    this.cache.delete(owner);
    this.cache.set(owner, { items, loadedAt: Date.now(), recent: false });
    evictSecondChance(this.cache, () => this.cache.size > this.maxCached);
  }
}
