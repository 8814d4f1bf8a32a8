/**
 * Serialises work per key inside one process: LevelDB's read-then-write
 * conditional puts, modules' read-modify-write cycles on one account's rows
 * (roster, PEP nodes), the stanzas of one MUC room, and work on things
 * placed on one cluster node.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** No key is held or waited for. */
  get idle(): boolean {
    return this.tails.size === 0;
  }

  /** Resolves once no key is held or waited for (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** Runs `fn` once every earlier holder of any of `keys` is done. */
  async with<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const earlier = keys.map((k) => this.tails.get(k)).filter((p): p is Promise<void> => p !== undefined);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const k of keys) this.tails.set(k, mine);
    try {
      if (earlier.length > 0) await Promise.all(earlier);
      return await fn();
    } finally {
      release();
      for (const k of keys) if (this.tails.get(k) === mine) this.tails.delete(k);
    }
  }
}
