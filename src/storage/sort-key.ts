import type { RangeOptions } from './wide-column.js';

/**
 * Sort keys compare as UTF-8 byte strings on every backend (LevelDB and
 * DynamoDB compare bytes; Cassandra's text clustering column compares bytes).
 * JavaScript's `<` compares UTF-16 code units, which differs for characters
 * above U+FFFF, so in-process backends use this instead.
 */
export function compareSortKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (0xD800–0xDFFF) encode code points above every BMP character.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa && cb >= 0xe000) return 1;
    if (sb && ca >= 0xe000) return -1;
    return ca < cb ? -1 : 1;
  }
  return a.length - b.length;
}

export function inRange(sk: string, o: RangeOptions): boolean {
  if (o.start !== undefined) {
    const c = compareSortKeys(sk, o.start);
    if (c < 0 || (c === 0 && o.startExclusive)) return false;
  }
  if (o.end !== undefined) {
    const c = compareSortKeys(sk, o.end);
    if (c > 0 || (c === 0 && o.endExclusive)) return false;
  }
  return true;
}

/** True when the bounds cannot hold any sort key (start above end, or equal with an exclusive side). */
export function isEmptyRange(o: RangeOptions): boolean {
  if (o.start === undefined || o.end === undefined) return false;
  const c = compareSortKeys(o.start, o.end);
  return c > 0 || (c === 0 && (o.startExclusive === true || o.endExclusive === true));
}
