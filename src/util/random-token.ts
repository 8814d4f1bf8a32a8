/**
 * Unpredictable ids (stream ids, nonces, generated resources) drawn from one
 * pooled buffer. `randomBytes(n)` per id costs a call into OpenSSL's DRBG and
 * a Buffer each time; a login takes five such ids. Every pooled byte is
 * handed out once, so the ids are exactly as random as `randomBytes`' own.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let used = pool.length;

function take(bytes: number): number {
  if (bytes > pool.length) throw new RangeError(`at most ${pool.length} random bytes at once`);
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const start = used;
  used += bytes;
  return start;
}

/** `bytes` random bytes as 2 × `bytes` hex digits. */
export function randomHex(bytes: number): string {
  const start = take(bytes);
  return pool.toString('hex', start, start + bytes);
}

/** `bytes` random bytes in base64 (RFC 4648 §4, padded). */
export function randomBase64(bytes: number): string {
  const start = take(bytes);
  return pool.toString('base64', start, start + bytes);
}
