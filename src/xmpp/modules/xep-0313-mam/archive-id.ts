import { randomBytes } from 'node:crypto';

/**
 * Archive ids (XEP-0313 UIDs, also the sort key of every archive row):
 *
 *   TTTTTTTTTTT SS RRRRRR      (19 characters of base32hex, 0-9a-v)
 *   │           │  └ 30 random bits: ids are unpredictable (XEP-0313 §3) and
 *   │           │    unique across cluster nodes writing in the same microsecond
 *   │           └ per-process sequence within one microsecond (1024 values; the
 *   │             clock has millisecond resolution, so a busier millisecond spills
 *   │             into the following microseconds)
 *   └ microseconds since the epoch (55 bits, good until the year 3111)
 *
 * base32hex keeps the byte order of the numbers, so ids sort by time on every
 * backend (sort keys compare as UTF-8 bytes), and a time bound is an id prefix:
 * `start` is `timeKey(start)`, `end` is `timeKey(end + 1 µs)` exclusive.
 */

const ALPHABET = '0123456789abcdefghijklmnopqrstuv';
const TIME_CHARS = 11;
const SEQ_CHARS = 2;
const RANDOM_CHARS = 6;
export const ID_LENGTH = TIME_CHARS + SEQ_CHARS + RANDOM_CHARS;
const ID_PATTERN = /^[0-9a-v]{19}$/;
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

function encode(n: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) {
    s = ALPHABET[n % 32]! + s;
    n = Math.floor(n / 32);
  }
  return s;
}

/**
 * The id prefix for a time in microseconds since the epoch. Times past 2^53 µs
 * (the year 2255) are taken as that: the prefix has room for 2^55 µs, but
 * floating point does not count that far exactly, and a query's `end` in the
 * year 9999 must still mean "everything so far", not wrap around.
 */
export function timeKey(us: number): string {
  return encode(Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(us))), TIME_CHARS);
}

export function isArchiveId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Microseconds since the epoch encoded in an id. */
export function idTimeUs(id: string): number {
  let n = 0;
  for (let i = 0; i < TIME_CHARS; i++) n = n * 32 + DECODE[id.charCodeAt(i)]!;
  return n;
}

/** Milliseconds since the epoch encoded in an id. */
export function idTimeMs(id: string): number {
  return Math.floor(idTimeUs(id) / 1000);
}

/** Hands out strictly increasing ids in this process (the clock going back does not reorder them). */
export class ArchiveIdGenerator {
  private lastUs = 0;
  private seq = 0;
  private pool = Buffer.alloc(0);
  private poolAt = 0;

  /** `nowUs` is for tests and imports; by default the wall clock. */
  next(nowUs: number = Date.now() * 1000): string {
    let us = Math.max(Math.floor(nowUs), this.lastUs);
    if (us === this.lastUs) {
      this.seq++;
      if (this.seq === 1024) {
        us++;
        this.seq = 0;
      }
    } else this.seq = 0;
    this.lastUs = us;
    return timeKey(us) + encode(this.seq, SEQ_CHARS) + this.random();
  }

  private random(): string {
    if (this.poolAt + 4 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.poolAt = 0;
    }
    const n = this.pool.readUInt32BE(this.poolAt) >>> 2; // 30 bits
    this.poolAt += 4;
    return encode(n, RANDOM_CHARS);
  }
}
