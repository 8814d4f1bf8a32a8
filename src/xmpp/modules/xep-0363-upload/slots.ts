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

/** Bytes of UTF-8 a stored file name may take: file systems allow 255, and the store adds a suffix while writing. */
const MAX_FILENAME_BYTES = 200;
/** A longer "extension" is part of the name, cut like the rest of it. */
const MAX_EXTENSION_BYTES = 32;

/**
 * Characters dropped from file names: C0 and C1 controls (U+0085 is a line break to some parsers), and the
 * bidirectional controls that make a name display as another ("\u202Egpj.exe" shows as "exe.jpg" in the
 * clients that take the name from the URL).
 */
// eslint-disable-next-line no-control-regex
const INVISIBLE_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A file name safe as one path segment: the last component of what the client
 * gave, without control characters (INVISIBLE_CONTROLS), separators or surrounding white space, and
 * at most MAX_FILENAME_BYTES; null when nothing usable is left. A long name
 * loses the end of its stem, not its extension (XEP-0363 §4: the service
 * SHOULD keep the file ending intact, and clients choose how to show a file by
 * it). The HTTP side checks a URL's name with this function, so a name it
 * returns must come back unchanged from it.
 */
export function safeFilename(name: string): string | null {
  const base = fitFilename((name.split(/[/\\]/).pop() ?? '').replace(INVISIBLE_CONTROLS, '').trim());
  if (base === '' || base === '.' || base === '..' || base === META_FILENAME) return null;
  return base;
}

function fitFilename(name: string): string {
  if (Buffer.byteLength(name) <= MAX_FILENAME_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot) : '';
  const kept = Buffer.byteLength(extension) <= MAX_EXTENSION_BYTES ? extension : '';
  // trimEnd: a cut just after a space would leave a name that does not survive safeFilename again.
  return cutUtf8(name.slice(0, name.length - kept.length), MAX_FILENAME_BYTES - Buffer.byteLength(kept)).trimEnd() + kept;
}

/**
 * A file name as the last segment of a slot URL. encodeURIComponent leaves `'()!*` as they are, and
 * clients share the URL in message text, where link finders and markup (Markdown, XEP-0393 styling) may
 * end a link at `)` or `'` or read `*` as emphasis: a file named "photo (1).jpg" could lose its URL's end.
 */
export function urlSegment(name: string): string {
  return encodeURIComponent(name).replace(/['()!*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Used when the client names no content type (XEP-0363 §4: the type is optional). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Content types are compared without parameters' case and surrounding spaces. */
export function normaliseContentType(t: string | undefined): string {
  const v = (t ?? '').trim();
  return v === '' ? DEFAULT_CONTENT_TYPE : v.toLowerCase();
}
