/**
 * Failed logins as SASL negotiation counts them, keyed by account
 * (`user:name@host`) and remote address (`ip:…`). A single node counts in
 * memory (LoginThrottle); a cluster counts in Redis, so that guesses spread
 * over the nodes behind a load balancer add up (RedisLoginThrottle).
 */
export interface LoginFailures {
  isBlocked(key: string): boolean | Promise<boolean>;
  fail(...keys: string[]): void | Promise<void>;
  succeed(key: string): void | Promise<void>;
  /** A login whose password checked out: false while `key` is blocked; otherwise its failures are forgotten. */
  admit(key: string): boolean | Promise<boolean>;
}

/**
 * Counts failed logins per key (account, remote address) in a sliding window.
 * Past the limit, further attempts are refused with temporary-auth-failure
 * until the window moves on, which makes password guessing slow without
 * locking the real user out for long.
 */
export class LoginThrottle implements LoginFailures {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(key: string): number[] {
    const list = this.failures.get(key);
    if (list === undefined) return [];
    const cutoff = this.now() - this.windowMs;
    while (list.length > 0 && list[0]! <= cutoff) list.shift();
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  isBlocked(...keys: string[]): boolean {
    return keys.some((k) => this.recent(k).length >= this.maxFailures);
  }

  fail(...keys: string[]): void {
    const t = this.now();
    for (const k of keys) {
      const list = this.failures.get(k) ?? [];
      list.push(t);
      this.failures.set(k, list);
    }
    if (this.failures.size > 100_000) this.sweep();
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  admit(key: string): boolean {
    if (this.isBlocked(key)) return false;
    this.succeed(key);
    return true;
  }

  private sweep(): void {
    for (const k of [...this.failures.keys()]) this.recent(k);
  }
}
