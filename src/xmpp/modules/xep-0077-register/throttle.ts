import { isIP } from 'node:net';

/**
 * The unit one registrant controls: an IPv6 /64, as a host is normally given
 * a whole /64 and can pick a fresh address in it for every registration; an
 * IPv4 address as itself, also when a dual-stack socket shows it as
 * `::ffff:a.b.c.d`. Anything else (not an IP) is kept as it is.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const lower = address.toLowerCase().replace(/%.*$/, '');
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  const split = (part: string | undefined): string[] => (part === undefined || part === '' ? [] : part.split(':'));
  const [head, tail] = lower.split('::');
  const groups = split(head);
  if (tail !== undefined) {
    const after = split(tail);
    // A dotted IPv4 tail (::1.2.3.4) fills two groups; '::' stands for the zero groups that make eight.
    const width = after.length + (after.at(-1)?.includes('.') === true ? 1 : 0);
    for (let i = groups.length + width; i < 8; i++) groups.push('0');
    groups.push(...after);
  }
  return groups.slice(0, 4).map((g) => g.padStart(4, '0')).join(':') + '::/64';
}

/**
 * Remembers when each address (see addressKey) last registered an account, so that one
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
    const at = this.last.get(addressKey(address));
    if (at === undefined) return 0;
    const left = at + this.intervalMs - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a registration from `address`; made before the account is written, so registrations that arrive together cannot all pass. */
  record(address: string): void {
    if (this.intervalMs > 0) this.last.set(addressKey(address), this.now());
  }

  /** Takes back the last record of `address`, for a registration that was refused after all. */
  release(address: string): void {
    this.last.delete(addressKey(address));
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
