import { domainToASCII } from 'node:url';

/**
 * A parsed, normalised JID (RFC 7622). Instances are immutable and carry their
 * string forms precomputed, because the router compares and hashes JIDs on
 * every stanza and must not rebuild strings there.
 */
export class Jid {
  readonly local: string;
  readonly domain: string;
  readonly resource: string;
  /** `local@domain` (or `domain`), normalised. */
  readonly bare: string;
  /** `local@domain/resource`, or `bare` when there is no resource. */
  readonly full: string;

  constructor(local: string, domain: string, resource: string) {
    this.local = local;
    this.domain = domain;
    this.resource = resource;
    this.bare = local ? `${local}@${domain}` : domain;
    this.full = resource ? `${this.bare}/${resource}` : this.bare;
  }

  get isBare(): boolean {
    return this.resource === '';
  }

  toBare(): Jid {
    return this.resource === '' ? this : new Jid(this.local, this.domain, '');
  }

  withResource(resource: string): Jid {
    return new Jid(this.local, this.domain, normaliseResource(resource));
  }

  equals(other: Jid): boolean {
    return this.full === other.full;
  }

  toString(): string {
    return this.full;
  }
}

export class JidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JidError';
  }
}

const MAX_PART_BYTES = 1023;
// Characters RFC 7622 §3.3.1 forbids in a localpart (plus controls and spaces, checked separately).
const FORBIDDEN_LOCAL = new Set(['"', '&', "'", '/', ':', '<', '>', '@']);

function checkLength(part: string, what: string): void {
  if (Buffer.byteLength(part, 'utf8') > MAX_PART_BYTES) throw new JidError(`${what} longer than ${MAX_PART_BYTES} bytes`);
}

function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f) || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200b)) return true;
  }
  return false;
}

/** PRECIS UsernameCaseMapped, approximated: NFKC, case folded, no forbidden characters. */
export function normaliseLocal(local: string): string {
  if (local === '') return '';
  const out = local.normalize('NFKC').toLowerCase();
  if (hasControlOrSpace(out)) throw new JidError('localpart contains spaces or control characters');
  for (const ch of out) if (FORBIDDEN_LOCAL.has(ch)) throw new JidError(`localpart contains '${ch}'`);
  checkLength(out, 'localpart');
  return out;
}

export function normaliseDomain(domain: string): string {
  let d = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (d === '') throw new JidError('empty domainpart');
  // Fast path: plain ASCII hostnames and IP literals are by far the common case.
  let ascii = true;
  for (let i = 0; i < d.length; i++) if (d.charCodeAt(i) > 0x7e) { ascii = false; break; }
  if (ascii) {
    d = d.toLowerCase();
  } else {
    const converted = domainToASCII(d.normalize('NFC'));
    if (!converted) throw new JidError('domainpart is not a valid internationalised domain name');
    d = converted;
  }
  if (d.startsWith('[')) {
    if (!d.endsWith(']')) throw new JidError('malformed IPv6 domainpart');
  } else if (!/^[a-z0-9_.-]+$/.test(d) || d.includes('..') || d.startsWith('.')) {
    throw new JidError('domainpart contains characters a hostname cannot have');
  }
  checkLength(d, 'domainpart');
  return d;
}

/** PRECIS OpaqueString: NFC, no controls; spaces inside are allowed but not at the ends. */
export function normaliseResource(resource: string): string {
  if (resource === '') return '';
  const out = resource.normalize('NFC');
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw new JidError('resourcepart contains control characters');
  }
  if (out.trim() !== out) throw new JidError('resourcepart starts or ends with space');
  checkLength(out, 'resourcepart');
  return out;
}

const cache = new Map<string, Jid>();
const CACHE_LIMIT = 50_000;

/**
 * Parses and normalises a JID, throwing JidError when it is invalid.
 * Results are memoised: the same few thousand JIDs appear on every stanza.
 */
export function parseJid(input: string): Jid {
  const hit = cache.get(input);
  if (hit !== undefined) return hit;
  const slash = input.indexOf('/');
  const beforeResource = slash === -1 ? input : input.slice(0, slash);
  const resource = slash === -1 ? '' : input.slice(slash + 1);
  if (slash !== -1 && resource === '') throw new JidError('empty resourcepart');
  const at = beforeResource.indexOf('@');
  const local = at === -1 ? '' : beforeResource.slice(0, at);
  if (at !== -1 && local === '') throw new JidError('empty localpart');
  const domain = at === -1 ? beforeResource : beforeResource.slice(at + 1);
  const jid = new Jid(normaliseLocal(local), normaliseDomain(domain), normaliseResource(resource));
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(input, jid);
  return jid;
}

/** Like parseJid but returns null instead of throwing. */
export function tryParseJid(input: string | undefined | null): Jid | null {
  if (input === undefined || input === null) return null;
  try {
    return parseJid(input);
  } catch {
    return null;
  }
}

export function jid(local: string, domain: string, resource = ''): Jid {
  return new Jid(normaliseLocal(local), normaliseDomain(domain), normaliseResource(resource));
}

/**
 * Splits a normalised full JID at its first '/' (a bare JID cannot contain
 * one); a bare JID gives resource ''. Session tables key entries by account and
 * resource, and take JIDs already normalised by the stream layer, so no
 * parsing is needed here.
 */
export function splitFullJid(fullJid: string): { bare: string; resource: string } {
  const slash = fullJid.indexOf('/');
  return slash === -1 ? { bare: fullJid, resource: '' } : { bare: fullJid.slice(0, slash), resource: fullJid.slice(slash + 1) };
}
