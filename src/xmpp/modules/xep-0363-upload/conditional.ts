/**
 * Conditional GETs of uploaded files (RFC 9110 §13). A file never changes
 * once uploaded, so its strong validator is its slot id and size, computed
 * without reading it.
 */
export function fileEtag(slotId: string, size: number): string {
  return `"${slotId}-${size}"`;
}

/** The entity tags of a list header, taken whole rather than split at commas, which a tag may hold (§8.8.3). */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/**
 * Whether `If-None-Match` is false for the file, that is, the client has it already and gets 304 (§13.1.2):
 * `*`, or one of the listed tags by weak comparison (W/ ignored).
 */
export function noneMatchFails(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return (header.match(ENTITY_TAG) ?? []).some((t) => t.replace(/^W\//, '') === etag);
}

/**
 * Whether a Range may be served under `If-Range` (§13.1.5): with no If-Range, yes; else only when it names
 * the file's tag by strong comparison. A date cannot match (files carry no Last-Modified), nor can a weak tag,
 * nor a list (Node types headers it has no entry for as possibly several).
 */
export function ifRangeAllows(header: string | string[] | undefined, etag: string): boolean {
  return header === undefined || (typeof header === 'string' && header.trim() === etag);
}
