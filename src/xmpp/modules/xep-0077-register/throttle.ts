/**
 * Remembers when each address last registered an account, so that one
 * address cannot create accounts faster than one per interval. Node-local:
 * in a cluster an address could register once per node per interval, which
 * still bounds a spammer while needing no shared state.
 */
export class RegistrationThrottle {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whole seconds `address` must still wait before registering; 0 when it may register now. */
  waitSeconds(address: string): number {
    if (this.intervalMs <= 0) return 0;
    const at = this.last.get(address);
    if (at === undefined) return 0;
    const left = at + this.intervalMs - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a registration from `address`; made before the account is written, so registrations that arrive together cannot all pass. */
  record(address: string): void {
    if (this.intervalMs > 0) this.last.set(address, this.now());
  }

  /** Takes back the last record of `address`, for a registration that was refused after all. */
  release(address: string): void {
    this.last.delete(address);
  }

  /** Forgets addresses whose interval has passed, so the map does not grow without bound. */
  prune(): void {
    const cutoff = this.now() - this.intervalMs;
    for (const [address, at] of this.last) if (at <= cutoff) this.last.delete(address);
  }

  get size(): number {
    return this.last.size;
  }
}
