/** Bytes `start` to `end` of a file, both included (RFC 9110 §14.1.2). */
export interface ByteRange {
  start: number;
  end: number;
}

/** One range: `bytes=first-last`, `bytes=first-` or `bytes=-suffixLength`. */
const SINGLE_RANGE = /^bytes=\s*(\d*)-(\d*)\s*$/i;

/**
 * What a GET's Range header asks of a file of `size` bytes (RFC 9110 §14.2):
 * null for the whole file (no header, or one sori ignores as §14.2 allows:
 * several ranges, other units, bad syntax), 'unsatisfiable' when no byte of
 * the file is in it (416), else the range, its end within the file.
 */
export function requestedRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = SINGLE_RANGE.exec(header);
  if (m === null) return null;
  const first = m[1] ?? '';
  const last = m[2] ?? '';
  if (first === '') {
    if (last === '') return null;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  if (end < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}
