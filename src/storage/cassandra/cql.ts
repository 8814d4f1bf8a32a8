/**
 * CQL text for the Cassandra backend. Every statement is prepared once by the
 * driver (it caches by query text), so the few slice variants are built from
 * the bounds' shape, never from their values.
 */
import type { RangeOptions } from '../wide-column.js';

export type Replication = Record<string, string | number>;

/** `{'class': 'SimpleStrategy', 'replication_factor': 1}` from a plain object. */
export function replicationLiteral(replication: Replication): string {
  const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  const entries = Object.entries(replication).map(([k, v]) => `${quote(k)}: ${typeof v === 'number' ? v : quote(v)}`);
  return `{${entries.join(', ')}}`;
}

/** TTL 0 binds "no expiry", so one prepared statement serves both cases. */
export const cql = {
  get: (t: string) => `SELECT v FROM ${t} WHERE pk = ? AND sk = ?`,
  insert: (t: string) => `INSERT INTO ${t} (pk, sk, v) VALUES (?, ?, ?) USING TTL ?`,
  insertIfNotExists: (t: string) => `INSERT INTO ${t} (pk, sk, v) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`,
  updateIfValue: (t: string) => `UPDATE ${t} USING TTL ? SET v = ? WHERE pk = ? AND sk = ? IF v = ?`,
  delete: (t: string) => `DELETE FROM ${t} WHERE pk = ? AND sk = ?`,
  deletePartition: (t: string) => `DELETE FROM ${t} WHERE pk = ?`,
  scan: (t: string) => `SELECT pk, sk, v, TTL(v) AS ttl FROM ${t}`,
  /** Bind order: pk, then start if present, then end if present. */
  slice(t: string, o: RangeOptions): string {
    let q = `SELECT sk, v, TTL(v) AS ttl FROM ${t} WHERE pk = ?`;
    if (o.start !== undefined) q += o.startExclusive ? ' AND sk > ?' : ' AND sk >= ?';
    if (o.end !== undefined) q += o.endExclusive ? ' AND sk < ?' : ' AND sk <= ?';
    return o.reverse ? `${q} ORDER BY sk DESC` : q;
  },
};
