import { cutUtf8 } from '../../../util/utf8.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A granted slot, kept until it expires (or the file is uploaded). */
export interface Slot {
  owner: string;
  filename: string;
  size: number;
  contentType: string;
  /** ms since the epoch after which the PUT is refused. */
  expiresMs: number;
}

/** One file of a user, for quotas and expiry. `pending` until the PUT has completed. */
export interface UserFile {
  size: number;
  createdMs: number;
  /** FileStore key. */
  key: string;
  pending: boolean;
  /** For pending entries: when the slot lapses. */
  slotExpiresMs: number;
}

export function newSlotId(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * The PUT token: an HMAC over everything the PUT must match, so that a slot
 * cannot be reused for another size, type or file, and only the server that
 * knows the secret (any node of the cluster) can mint one.
 */
export function slotToken(secret: string, slotId: string, slot: Slot): string {
  return createHmac('sha256', secret).update(`${slotId}\n${slot.filename}\n${slot.size}\n${slot.contentType}\n${slot.expiresMs}`).digest('base64url');
}

export function tokenMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The name the disk store keeps a file's metadata under, beside it: no upload may take it. */
export const META_FILENAME = '.meta.json';

/**
 * A file name safe as one path segment: the last component of what the client
 * gave, without control characters or separators, and at most 200 bytes of
 * UTF-8 (file systems allow 255, and the store adds a suffix while writing);
 * null when nothing usable is left.
 */
export function safeFilename(name: string): string | null {
  // eslint-disable-next-line no-control-regex
  const base = cutUtf8((name.split(/[/\\]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim(), 200);
  if (base === '' || base === '.' || base === '..' || base === META_FILENAME) return null;
  return base;
}

/** Used when the client names no content type (XEP-0363 §4: the type is optional). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Content types are compared without parameters' case and surrounding spaces. */
export function normaliseContentType(t: string | undefined): string {
  const v = (t ?? '').trim();
  return v === '' ? DEFAULT_CONTENT_TYPE : v.toLowerCase();
}
