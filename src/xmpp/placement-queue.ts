import { KeyLocks } from '../util/key-locks.js';
import type { Logger } from '../util/log.js';
import type { ServerApi } from './module.js';

/** How long a looked-up holder is trusted before it is asked again (a holder that stopped answering is forgotten at once). */
export const HOLDER_TTL_MS = 2_000;
/** Cached holders kept at most; past that the cache starts over (lookups are one read each). */
const MAX_CACHED = 10_000;

/**
 * Work on things that live on one cluster node at a time (a MUC room, a
 * component's domain): each call runs with the node that holds the key, in
 * the order the calls were made for that key, so stanzas forwarded to the
 * holder keep their order. Holders are cached briefly; a holder found gone is
 * forgotten so the next call asks again. On a single node callers need none
 * of this (ServerApi.clustered).
 */
export class PlacementQueue {
  private readonly locks = new KeyLocks();
  private readonly holders = new Map<string, { node: string; until: number }>();

  /** With `claim`, a key nobody holds is taken by this node (MUC rooms); without, it stays unheld (components). */
  constructor(
    private readonly server: ServerApi,
    private claim: boolean,
    private readonly log: Logger,
  ) {}

  /** From now on keys nobody holds stay unheld here (this node is leaving the cluster). */
  stopClaiming(): void {
    this.claim = false;
  }

  /**
   * Runs `work` with the key's holder (null when none, or when it cannot be looked up now) after every
   * earlier call for `key`; resolves once it has run. `claim` false: this call takes no key nobody holds.
   */
  run(key: string, work: (holder: string | null) => void | Promise<void>, claim = this.claim): Promise<void> {
    return this.locks.with([key], async () => work(await this.lookup(key, claim))).catch((err: unknown) => this.log.error(`work on ${key} failed`, err));
  }

  /**
   * Runs `work` after every earlier call for `key` without looking its holder up: a key let go in its turn
   * (ServerApi.releasePlacement) is neither undone by a claim still in flight nor released late under a later one.
   */
  after(key: string, work: () => Promise<void>): Promise<void> {
    return this.locks.with([key], work).catch((err: unknown) => this.log.error(`work on ${key} failed`, err));
  }

  /**
   * The holder of `key`, or null when the session table fails to answer (logged): the caller then
   * does what it does for a key nobody holds, which bounces the stanza rather than dropping it.
   */
  async lookup(key: string, claim = this.claim): Promise<string | null> {
    try {
      return await this.holder(key, claim);
    } catch (err) {
      this.log.warn(`looking up the node holding ${key} failed`, err);
      return null;
    }
  }

  /** The holder of `key`, from the cache when fresh. */
  async holder(key: string, claim = this.claim): Promise<string | null> {
    const cached = this.holders.get(key);
    if (cached !== undefined && cached.until > Date.now()) return cached.node;
    const node = await this.server.placement(key, claim && this.claim);
    if (node === null) this.holders.delete(key);
    else {
      if (this.holders.size >= MAX_CACHED) this.holders.clear();
      this.holders.set(key, { node, until: Date.now() + HOLDER_TTL_MS });
    }
    return node;
  }

  /** Drops the cached holder of `key` (it did not take a post, or this node let the key go). */
  forget(key: string): void {
    this.holders.delete(key);
  }

  /** Resolves once every call made so far has run (tests, shutdown). */
  idle(): Promise<void> {
    return this.locks.settled();
  }
}
