/**
 * LevelDB keys for (table, pk, sk): `esc(table) 00 esc(pk) 00 esc(sk)`.
 *
 * LevelDB orders keys bytewise, so each part is escaped in a way that keeps
 * that order: 0x00 becomes 01 01 and 0x01 becomes 01 02, every other byte is
 * kept. The separator 00 sorts below every escaped byte, so a shorter part
 * sorts before a longer one sharing its prefix, exactly as UTF-8 byte strings
 * compare, and no pk or sk (whatever bytes it holds) can reach into the next
 * part. UTF-8 never contains 0xFF, so `prefix + FF` bounds a partition.
 */

const SEP = 0x00;
const ESC = 0x01;
const PAST_END = 0xff;

function escapedLength(bytes: Uint8Array): number {
  let n = bytes.length;
  for (const b of bytes) if (b <= ESC) n++;
  return n;
}

function writeEscaped(bytes: Uint8Array, out: Buffer, at: number): number {
  for (const b of bytes) {
    if (b <= ESC) {
      out[at++] = ESC;
      out[at++] = b + 1;
    } else out[at++] = b;
  }
  return at;
}

/** True when `s` is ASCII without the two bytes that need escaping: its key bytes are its char codes. */
function plainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= ESC || c >= 0x80) return false;
  }
  return true;
}

/**
 * Concatenates escaped parts with separators; `terminateLast` adds one after the last part too.
 * Every archived message writes a few keys, so the common case (ASCII JIDs and ids) is
 * written straight into one buffer without an intermediate UTF-8 copy per part.
 */
function join(parts: readonly string[], terminateLast: boolean): Buffer {
  let size = terminateLast ? parts.length : parts.length - 1;
  let plain = true;
  for (const p of parts) {
    size += p.length;
    if (plain && !plainAscii(p)) plain = false;
  }
  if (plain) {
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      at += out.write(parts[i]!, at, 'latin1');
      if (i < parts.length - 1 || terminateLast) out[at++] = SEP;
    }
    return out;
  }
  const raw = parts.map((p) => Buffer.from(p, 'utf8'));
  size = raw.reduce((n, b) => n + escapedLength(b) + 1, 0);
  if (!terminateLast) size--;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  raw.forEach((b, i) => {
    at = writeEscaped(b, out, at);
    if (i < raw.length - 1 || terminateLast) out[at++] = SEP;
  });
  return out;
}

export function rowKey(table: string, pk: string, sk: string): Buffer {
  return join([table, pk, sk], false);
}

/** Every key of a partition starts with this. */
export function partitionPrefix(table: string, pk: string): Buffer {
  return join([table, pk], true);
}

/** Bounds [gte, lt) covering every key that starts with `prefix`. */
export function prefixBounds(prefix: Buffer): { gte: Buffer; lt: Buffer } {
  return { gte: prefix, lt: Buffer.concat([prefix, Buffer.of(PAST_END)]) };
}

/** Bounds covering every row of a table. */
export function tableBounds(table: string): { gte: Buffer; lt: Buffer } {
  return prefixBounds(join([table], true));
}

/** `prefix + esc(sk)`: a sort-key bound inside a partition. */
export function withSortKey(prefix: Buffer, sk: string): Buffer {
  const raw = Buffer.from(sk, 'utf8');
  const out = Buffer.allocUnsafe(prefix.length + escapedLength(raw));
  prefix.copy(out, 0);
  writeEscaped(raw, out, prefix.length);
  return out;
}

/** Un-escapes `key[from, to)` into a string. */
function unescape(key: Uint8Array, from: number, to: number): string {
  let escaped = false;
  for (let i = from; i < to; i++) if (key[i] === ESC) escaped = true;
  const bytes = Buffer.from(key.buffer, key.byteOffset + from, to - from);
  if (!escaped) return bytes.toString('utf8');
  const out = Buffer.allocUnsafe(to - from);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) out[n++] = bytes[i] === ESC ? bytes[++i]! - 1 : bytes[i]!;
  return out.toString('utf8', 0, n);
}

/** Splits a row key back into its (table, pk, sk). */
export function decodeRowKey(key: Uint8Array): { table: string; pk: string; sk: string } {
  // Separators are the only 0x00 bytes (an escaped 0x00 is 01 01), so the first two split the parts.
  const first = key.indexOf(SEP);
  const second = first < 0 ? -1 : key.indexOf(SEP, first + 1);
  if (second < 0) throw new Error('not a row key');
  return { table: unescape(key, 0, first), pk: unescape(key, first + 1, second), sk: unescape(key, second + 1, key.length) };
}
