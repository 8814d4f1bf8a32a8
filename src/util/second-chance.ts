/** A cache entry that remembers whether it was read since eviction last passed it. */
export interface SecondChance {
  recent: boolean;
}

/**
 * Drops entries of `map`, oldest insertion first, while `over()` holds; an
 * entry read since the last pass is moved to the end with its flag cleared
 * instead (the CLOCK approximation of least-recently-used). A hit then costs
 * setting a flag: moving the key to the Map's end on every hit, the exact
 * LRU, leaves a hole in V8's ordered hash table each time, so the table is
 * rebuilt every few thousand hits and each copy, held by a long-lived Map,
 * is promoted to the old generation (at chat rates, a full GC every few
 * seconds: docs/performance-log.md, "Twenty-first session"). `dropped` hears of
 * each entry removed.
 */
export function evictSecondChance<K, V extends SecondChance>(map: Map<K, V>, over: () => boolean, dropped?: (key: K, value: V) => void): void {
  while (over()) {
    const oldest = map.entries().next();
    if (oldest.done === true) return;
    const [key, value] = oldest.value;
    map.delete(key);
    if (value.recent) {
      value.recent = false;
      map.set(key, value);
    } else dropped?.(key, value);
  }
}
