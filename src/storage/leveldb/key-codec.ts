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

/** Concatenates escaped parts with separators; `terminateLast` adds one after the last part too. */
function join(parts: readonly string[], terminateLast: boolean): Buffer {
  const raw = parts.map((p) => Buffer.from(p, 'utf8'));
  let size = raw.reduce((n, b) => n + escapedLength(b) + 1, 0);
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

/** Splits a row key back into its (table, pk, sk). */
export function decodeRowKey(key: Uint8Array): { table: string; pk: string; sk: string } {
  const parts: string[] = [];
  let cur: number[] = [];
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    if (b === SEP && parts.length < 2) {
      parts.push(Buffer.from(cur).toString('utf8'));
      cur = [];
    } else if (b === ESC) cur.push(key[++i]! - 1);
    else cur.push(b);
  }
  parts.push(Buffer.from(cur).toString('utf8'));
  if (parts.length !== 3) throw new Error('not a row key');
  return { table: parts[0]!, pk: parts[1]!, sk: parts[2]! };
}
