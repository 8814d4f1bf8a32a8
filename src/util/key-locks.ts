/**
 * Serialises work per key inside one process: LevelDB's read-then-write
 * conditional puts, and modules' read-modify-write cycles on one account's
 * rows (roster, PEP nodes).
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** No key is held or waited for. */
  get idle(): boolean {
    return this.tails.size === 0;
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
