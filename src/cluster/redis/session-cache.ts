import type { SessionEntry } from '../session-table.js';

/**
 * Node-local cache of `byBare` results, so that routing a message to an
 * account on another node costs no Redis round trip once the account is known.
 *
 * Correctness rests on two rules. Every write to an account's sessions is
 * followed by a publish of its bare JID on `sori:invalidate`, and each node
 * drops that account on receipt. A read that was in flight when any
 * invalidation arrived is not cached (it may predate the write), which the
 * `loadToken` sequence number detects. While the subscription is down the
 * cache is emptied and bypassed, since invalidations could be missed.
 */
export class SessionCache {
  /** Lookups answered from the cache (observable for tests and benchmarks). */
  hits = 0;
  /** Lookups that went to Redis, including those made while the cache was bypassed. */
  misses = 0;
  /** Invalidation messages applied. */
  invalidations = 0;
  private readonly entries = new Map<string, SessionEntry[]>();
  private sequence = 0;
  private enabled = false;

  constructor(private readonly maxSize: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Cached sessions of `bare`, or undefined on a miss. */
  lookup(bare: string): readonly SessionEntry[] | undefined {
    const hit = this.enabled ? this.entries.get(bare) : undefined;
    if (hit === undefined) this.misses++;
    else this.hits++;
    return hit;
  }

  /** Taken before a read from Redis and handed back to `store`. */
  loadToken(): number {
    return this.sequence;
  }

  store(bare: string, sessions: SessionEntry[], token: number): void {
    if (!this.enabled || token !== this.sequence || this.maxSize === 0) return;
    if (this.entries.size >= this.maxSize && !this.entries.has(bare)) {
      // Maps iterate in insertion order: dropping the first key evicts the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(bare, sessions);
  }

  invalidate(bare: string): void {
    this.sequence++;
    this.invalidations++;
    this.entries.delete(bare);
  }

  /** Called with false when the invalidation channel drops, true once it is subscribed again. */
  setEnabled(enabled: boolean): void {
    this.sequence++;
    this.entries.clear();
    this.enabled = enabled;
  }
}
