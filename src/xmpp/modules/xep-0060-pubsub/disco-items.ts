import type { Jid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { parseRsm, rsmSet } from '../../rsm.js';
import { mayRead, type Service, type ServiceNode } from './node.js';

/** Most nodes one disco#items answer lists, asked for (RSM max) or not. */
export const DISCO_PAGE = 100;

/**
 * disco#items on the service itself (XEP-0060 §5.2): its nodes the requester
 * may read, one page at a time (XEP-0030 §6, XEP-0059). Anyone, remote users
 * too, may ask as often as they like, so a page is read as key ranges of the
 * node table in name order, never the whole service. A request without a
 * `<set/>` gets the first DISCO_PAGE nodes, and a `<set/>` when there are more,
 * whose `<last/>` the client pages on from.
 *
 * The UIDs are node names. Whitelist nodes hidden from the requester are
 * skipped while reading (one more range read per batch of them), so `<last/>`
 * is always a node the page shows, never a hidden one whose name would leak;
 * each non-empty page moves past its last node, so paging ends. No
 * `<count/>`: the number of nodes this requester sees would take reading
 * them all, which XEP-0059 §2.1 lets a service spare.
 */
export async function serviceItems(service: Service, from: Jid, query: XmlElement): Promise<XmlElement[]> {
  const rsm = parseRsm(query, DISCO_PAGE);
  const backward = rsm.before !== undefined;
  // One past the page tells whether there is more; at least a few rows, so runs of hidden nodes take few reads.
  const batch = Math.max(rsm.max + 1, 16);
  const page: { node: string; record: ServiceNode }[] = [];
  let more = false;
  let cursor = backward ? rsm.before : rsm.after;
  for (;;) {
    const rows = await service.store.nodesPage(service.jid, backward ? { before: cursor } : { after: cursor }, batch);
    for (const row of rows) {
      if (!mayRead(row.config, from.bare)) continue;
      if (page.length === rsm.max) {
        more = true;
        break;
      }
      page.push({ node: row.node, record: row.config });
    }
    if (more || rows.length < batch) break;
    cursor = rows[rows.length - 1]!.node;
  }
  // Read backwards from `before`: shown in name order, as every page is.
  if (backward) page.reverse();
  const items = page.map(({ node, record }) => x('item', { jid: service.jid, node, name: record.config.title || undefined }));
  if (!rsm.asked && !more) return items;
  return [...items, rsmSet(page[0]?.node, page[page.length - 1]?.node)];
}
