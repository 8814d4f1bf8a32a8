import type { ArchiveStore } from './archive.js';
import { pageByIds } from './extended.js';
import type { ArchiveQuery } from './query.js';

/** Rows decoded per read while counting, so a large limit does not hold them all at once. */
const COUNT_CHUNK = 250;

/**
 * The RSM item count a client asks for with `<max>0</max>` (XEP-0059 §2.7),
 * or undefined when it is not given.
 *
 * An archive is a wide-column partition read by key range: no backend keeps
 * a row count, and counting means reading the rows (DynamoDB bills every row
 * a COUNT query reads, Cassandra's count(*) scans the partition). A counter
 * updated per message would cost the hot path a write and drift as rows
 * expire. So the count is exact up to `limit` matching messages and left out
 * beyond: XEP-0313 §4.3.2 makes `<count/>` optional (clients must not depend on
 * it), XEP-0059 §2.7 allows leaving it out where computing it is
 * exceptionally resource-intensive, and an estimate from message times would
 * be far off for bursty conversations. Only max=0 queries count: ordinary
 * pages read what they did before.
 *
 * The count is of the result set the form selects (with, start, end,
 * before-id, after-id, ids), not of what lies past an RSM after/before.
 */
export async function countResults(archive: ArchiveStore, owner: string, q: ArchiveQuery, limit: number, maxIds: number): Promise<number | undefined> {
  const filter = { with: q.with, peer: q.peer, lower: q.setLower, upper: q.setUpper, reverse: false };
  // At most maxIds ids, each already read once for the page: exact whatever the limit.
  if (q.ids !== undefined) return (await pageByIds(archive, owner, q.ids, { ...filter, max: q.ids.length }, maxIds)).items.length;
  if (limit <= 0) return undefined;
  let counted = 0;
  let lower = filter.lower;
  for (;;) {
    const page = await archive.page(owner, { ...filter, lower, max: Math.min(COUNT_CHUNK, limit - counted) });
    counted += page.items.length;
    if (page.complete) return counted;
    if (counted >= limit) return undefined;
    lower = { key: page.items[page.items.length - 1]!.id, exclusive: true };
  }
}
