import type { BatchItem, Row, Table, TableSpec } from '../../../storage/wide-column.js';
import { ArchiveIdGenerator, idTimeMs } from './archive-id.js';
import type { Prefs } from './policy.js';

/**
 * The tables of a user archive, the layout MongooseIM's Cassandra backend and
 * Karrot use: every query is a key range of one partition, on every backend.
 *
 *  mam             pk = owner bare JID,            sk = archive id
 *  mam_by_with     pk = owner \0 contact bare JID, sk = archive id (same row again)
 *  mam_with_index  pk = owner,                     sk = contact bare JID
 *  mam_prefs       pk = owner,                     sk = "prefs"
 *
 * Archive ids are time-ordered (archive-id.ts), so `start`/`end` are sort-key
 * bounds too. `mam_by_with` holds a full copy of the row rather than a pointer:
 * twice the bytes, but a filtered page is one range read instead of one read
 * per message. `mam_with_index` lists the contacts an owner has partitions
 * for, so deleting an account finds them without scanning a table.
 */
export const MAM_TABLES: TableSpec[] = [
  { name: 'mam', ttl: true, description: 'XEP-0313 user archives: pk = owner bare JID, sk = time-ordered archive id, value = "1" + direction (i/o) + with + LF + peer + LF + stanza XML (older rows: JSON {with, peer, dir, ts, xml}, still read).' },
  { name: 'mam_by_with', ttl: true, description: 'XEP-0313 archives by contact: pk = owner + "\\u0000" + contact bare JID, sk = archive id, same value as mam.' },
  { name: 'mam_with_index', ttl: true, description: 'XEP-0313 contacts with a mam_by_with partition: pk = owner, sk = contact bare JID (to delete an archive without a scan).' },
  { name: 'mam_prefs', description: 'XEP-0441 archiving preferences: pk = owner bare JID, sk = "prefs", value = JSON {default, always, never}.' },
];

export type Direction = 'in' | 'out';

/** What is stored per archived message. */
interface StoredValue {
  /** The other party's bare JID (for a room archive, the occupant's real bare JID). */
  with: string;
  /** The other party's full JID as it appeared on the stanza. */
  peer: string;
  dir: Direction;
  /** Milliseconds since the epoch when the server archived it (the archive id's time). */
  ts: number;
  /** The stanza as the owner sent or received it. */
  xml: string;
}

/**
 * A row's value: "1", the direction (i/o), `with`, LF, `peer`, LF, the stanza.
 * JIDs cannot contain LF (RFC 7622 forbids control characters), so no escaping
 * is needed, and writing one is a concatenation instead of a JSON.stringify
 * that escapes every quote of the stanza; the time is the id's. Rows written
 * before this format are JSON and still read.
 */
const VALUE_FORMAT = '1';

function encodeValue(entry: { with: string; peer: string; dir: Direction; xml: string }): string {
  return `${VALUE_FORMAT}${entry.dir === 'in' ? 'i' : 'o'}${entry.with}\n${entry.peer}\n${entry.xml}`;
}

function decodeValue(id: string, value: string): StoredValue {
  if (value.charCodeAt(0) === 0x7b /* { */) return JSON.parse(value) as StoredValue;
  const withEnd = value.indexOf('\n', 2);
  const peerEnd = value.indexOf('\n', withEnd + 1);
  return {
    with: value.slice(2, withEnd),
    peer: value.slice(withEnd + 1, peerEnd),
    dir: value.charCodeAt(1) === 0x69 /* i */ ? 'in' : 'out',
    ts: idTimeMs(id),
    xml: value.slice(peerEnd + 1),
  };
}

export interface ArchivedMessage extends StoredValue {
  id: string;
}

export interface Bound {
  key: string;
  exclusive: boolean;
}

export interface PageQuery {
  /** Contact bare JID: read the mam_by_with partition. */
  with?: string;
  /** Only messages with this exact full JID (XEP-0313 §4.1.1); read from the `with` partition and filtered. */
  peer?: string;
  lower?: Bound;
  upper?: Bound;
  /** Rows wanted; one more is read to tell whether the page is the last. */
  max: number;
  /** Read newest first (RSM `before`). Items come back in read order. */
  reverse: boolean;
}

export interface Page {
  items: ArchivedMessage[];
  /** No further row matched in the reading direction. */
  complete: boolean;
}

const PREFS_SK = 'prefs';
const PREFS_CACHE_MS = 30_000;
const PREFS_CACHE_SIZE = 50_000;
const INDEX_REFRESH_MS = 3_600_000;
const DAY = 86_400;

export function byWithKey(owner: string, withBare: string): string {
  return `${owner}\u0000${withBare}`;
}

function toMessage(row: Row): ArchivedMessage {
  const v = decodeValue(row.sk, row.value);
  return { id: row.sk, with: v.with, peer: v.peer, dir: v.dir, ts: v.ts, xml: v.xml };
}

export interface ArchiveTables {
  mam: Table;
  byWith: Table;
  withIndex: Table;
  prefs: Table;
}

/** Reads and writes user archives; knows nothing of XMPP beyond JIDs and serialised stanzas. */
export class ArchiveStore {
  /** When each (owner, contact) index row was last written by this process. */
  private readonly indexed = new Map<string, number>();
  private readonly prefsCache = new Map<string, { prefs: Prefs | undefined; until: number }>();
  /** Days an owner's messages are kept (0: forever); a number, or per owner (per-domain retention). */
  private readonly retentionDays: (owner: string) => number;

  constructor(
    private readonly t: ArchiveTables,
    retentionDays: number | ((owner: string) => number),
    private readonly ids = new ArchiveIdGenerator(),
  ) {
    this.retentionDays = typeof retentionDays === 'number' ? () => retentionDays : retentionDays;
  }

  /** Row expiry for `owner`'s archived messages, or undefined to keep them forever. */
  private ttlSeconds(owner: string): number | undefined {
    const days = this.retentionDays(owner);
    return days > 0 ? Math.round(days * DAY) : undefined;
  }

  /** Writes a message into `owner`'s archive (both tables and the contact index in one batch); returns its id. */
  async append(owner: string, entry: { with: string; peer: string; dir: Direction; xml: string }, nowMs = Date.now()): Promise<string> {
    const id = this.ids.next(nowMs * 1000);
    const value = encodeValue(entry);
    const ttl = this.ttlSeconds(owner);
    const items: BatchItem[] = [
      { table: this.t.mam.name, pk: owner, sk: id, value, ttlSeconds: ttl },
      { table: this.t.byWith.name, pk: byWithKey(owner, entry.with), sk: id, value, ttlSeconds: ttl },
    ];
    // The contact index row is refreshed at most once an hour per pair: with retention its
    // TTL (a day past the messages') still outlives the pair's last row; without, it never expires.
    const pair = byWithKey(owner, entry.with);
    const refreshed = this.indexed.get(pair);
    if (refreshed === undefined || nowMs - refreshed > INDEX_REFRESH_MS) {
      items.push({ table: this.t.withIndex.name, pk: owner, sk: entry.with, value: '', ttlSeconds: ttl === undefined ? undefined : ttl + DAY });
      if (this.indexed.size >= PREFS_CACHE_SIZE) this.indexed.clear();
      this.indexed.set(pair, nowMs);
    }
    await this.t.mam.store.batchPut(items);
    return id;
  }

  /**
   * Rewrites the stanza of an archived message in both tables (a tombstone
   * for a retracted message, XEP-0424/0425), keeping its id, parties and
   * expiry; false when `owner` has no message `id`.
   */
  async replace(owner: string, id: string, xml: string, nowMs = Date.now()): Promise<boolean> {
    const old = await this.get(owner, id);
    if (old === undefined) return false;
    const value = encodeValue({ with: old.with, peer: old.peer, dir: old.dir, xml });
    const ttl = this.ttlSeconds(owner);
    const left = ttl === undefined ? undefined : Math.max(1, Math.round(ttl - (nowMs - old.ts) / 1000));
    await this.t.mam.store.batchPut([
      { table: this.t.mam.name, pk: owner, sk: id, value, ttlSeconds: left },
      { table: this.t.byWith.name, pk: byWithKey(owner, old.with), sk: id, value, ttlSeconds: left },
    ]);
    return true;
  }

  /** Takes a message out of the archive (both tables); false when `owner` has no message `id`. */
  async remove(owner: string, id: string): Promise<boolean> {
    const old = await this.get(owner, id);
    if (old === undefined) return false;
    await Promise.all([this.t.mam.delete(owner, id), this.t.byWith.delete(byWithKey(owner, old.with), id)]);
    return true;
  }

  async get(owner: string, id: string): Promise<ArchivedMessage | undefined> {
    const v = await this.t.mam.get(owner, id);
    return v === undefined ? undefined : toMessage({ pk: owner, sk: id, value: v });
  }

  /** One page of a range; never reads more than `max + 1` rows unless filtering by full JID. */
  async page(owner: string, q: PageQuery): Promise<Page> {
    const table = q.with === undefined ? this.t.mam : this.t.byWith;
    const pk = q.with === undefined ? owner : byWithKey(owner, q.with);
    const want = q.max + 1;
    let lower = q.lower;
    let upper = q.upper;
    const out: ArchivedMessage[] = [];
    for (;;) {
      const limit = q.peer === undefined ? want : Math.max(want, 100);
      const rows = await table.range(pk, {
        start: lower?.key,
        startExclusive: lower?.exclusive,
        end: upper?.key,
        endExclusive: upper?.exclusive,
        limit,
        reverse: q.reverse,
      });
      for (const row of rows) {
        const m = toMessage(row);
        if (q.peer !== undefined && m.peer !== q.peer) continue;
        out.push(m);
        if (out.length === want) break;
      }
      if (out.length === want || rows.length < limit) break;
      const lastKey = rows[rows.length - 1]!.sk;
      if (q.reverse) upper = { key: lastKey, exclusive: true };
      else lower = { key: lastKey, exclusive: true };
    }
    const complete = out.length <= q.max;
    if (!complete) out.length = q.max;
    return { items: out, complete };
  }

  /** The oldest and newest message of an archive (XEP-0313 §5 metadata). */
  async bounds(owner: string): Promise<{ first: ArchivedMessage; last: ArchivedMessage } | null> {
    const [first] = await this.t.mam.range(owner, { limit: 1 });
    const [last] = await this.t.mam.range(owner, { limit: 1, reverse: true });
    if (first === undefined || last === undefined) return null;
    return { first: toMessage(first), last: toMessage(last) };
  }

  /** Removes everything kept for `owner`: its archive, its by-contact partitions (found through the index) and its preferences. */
  async deleteAll(owner: string): Promise<void> {
    // The index names the contacts; the archive itself is read too, because another node may
    // have skipped rewriting an index row it believed present (see `indexed`). A partition read, not a scan.
    const contacts = new Set((await this.t.withIndex.range(owner)).map((c) => c.sk));
    for (let after: string | undefined; ; ) {
      const rows = await this.t.mam.range(owner, { start: after, startExclusive: after !== undefined, limit: 1000 });
      for (const r of rows) contacts.add(decodeValue(r.sk, r.value).with);
      if (rows.length < 1000) break;
      after = rows[rows.length - 1]!.sk;
    }
    for (const c of contacts) await this.t.byWith.deletePartition(byWithKey(owner, c));
    await this.t.withIndex.deletePartition(owner);
    await this.t.mam.deletePartition(owner);
    await this.t.prefs.deletePartition(owner);
    this.prefsCache.delete(owner);
    const prefix = byWithKey(owner, '');
    for (const pair of this.indexed.keys()) if (pair.startsWith(prefix)) this.indexed.delete(pair);
  }

  /**
   * Preferences are read for both parties of every archived message, so they
   * are cached; on another cluster node a change is seen within PREFS_CACHE_MS.
   */
  async getPrefs(owner: string): Promise<Prefs | undefined> {
    const hit = this.cachedPrefs(owner);
    if (hit !== undefined) return hit.prefs;
    const prefs = await this.t.prefs.getJson<Prefs>(owner, PREFS_SK);
    if (this.prefsCache.size >= PREFS_CACHE_SIZE) this.prefsCache.clear();
    this.prefsCache.set(owner, { prefs, until: Date.now() + PREFS_CACHE_MS });
    return prefs;
  }

  /** getPrefs from memory: undefined when they must be read (the hot path asks without a promise first). */
  cachedPrefs(owner: string): { prefs: Prefs | undefined } | undefined {
    const hit = this.prefsCache.get(owner);
    return hit !== undefined && hit.until > Date.now() ? hit : undefined;
  }

  async setPrefs(owner: string, prefs: Prefs): Promise<void> {
    await this.t.prefs.putJson(owner, PREFS_SK, prefs);
    this.prefsCache.delete(owner);
  }
}
