import { isUtf8 } from 'node:buffer';

/**
 * Strict UTF-8 decoding of a byte stream cut at arbitrary points. A
 * streaming `TextDecoder` would do, but it keeps an ICU converter per
 * connection (about 1.2 KB measured, for every idle session); this keeps at
 * most the 3 bytes of a character split between two reads, and validates and
 * converts with Node's fast whole-buffer paths.
 */
export class Utf8StreamDecoder {
  private pending: Buffer | null = null;

  /** The text of `chunk`, less a trailing incomplete character (kept for the next call). Throws on invalid UTF-8. */
  decode(chunk: Uint8Array): string {
    let bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pending !== null) {
      bytes = Buffer.concat([this.pending, bytes]);
      this.pending = null;
    }
    const end = completeLength(bytes);
    if (end < bytes.length) {
      this.pending = Buffer.from(bytes.subarray(end));
      bytes = bytes.subarray(0, end);
    }
    if (!isUtf8(bytes)) throw new TypeError('invalid UTF-8');
    return bytes.toString('utf8');
  }

  /** Drops a partial character kept from the last chunk (a new document starts). */
  reset(): void {
    this.pending = null;
  }
}

/**
 * Length of `bytes` without a trailing character whose remaining bytes have
 * not arrived yet. Anything malformed is left in, for validation to reject.
 */
export function completeLength(bytes: Uint8Array): number {
  const length = bytes.length;
  let start = length - 1;
  // Step back over at most three continuation bytes (10xxxxxx) to the lead byte.
  while (start >= 0 && start > length - 4 && (bytes[start]! & 0xc0) === 0x80) start--;
  if (start < 0) return length;
  const lead = bytes[start]!;
  const needed = lead < 0x80 ? 1 : (lead & 0xe0) === 0xc0 ? 2 : (lead & 0xf0) === 0xe0 ? 3 : (lead & 0xf8) === 0xf0 ? 4 : 1;
  return start + needed > length ? start : length;
}
