import { buildForm, formTypeField } from '../../../util/data-form.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { formatDateTime } from '../../../util/xep-0082-datetime.js';
import { StanzaError } from '../../errors.js';
import type { ArchiveStore, ArchivedMessage, PageQuery } from './archive.js';
import { NS_MAM } from './query.js';

/**
 * What any archive advertising `urn:xmpp:mam:2#extended` owes (XEP-0313
 * §4.1, §4.1.5, §5), shared by user archives (index.ts) and room archives
 * (xep-0045-muc/room-archive.ts) so both keep the same promise: the query
 * form listing the fields, the `ids` filter and the archive metadata.
 * (`before-id`, `after-id` and `<flip-page/>` are parsed in query.ts.)
 */

const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate';

/** §4.1.5: the fields a query may carry; `ids` is open to any value, not a list of every id. */
export function queryForm(): XmlElement {
  const form = buildForm({
    type: 'form',
    fields: [
      formTypeField(NS_MAM),
      { var: 'with', type: 'jid-single', values: [] },
      { var: 'start', type: 'text-single', values: [] },
      { var: 'end', type: 'text-single', values: [] },
      { var: 'before-id', type: 'text-single', values: [] },
      { var: 'after-id', type: 'text-single', values: [] },
      { var: 'ids', type: 'list-multi', values: [] },
    ],
  });
  form.getChildren('field').find((f) => f.attrs.var === 'ids')!.append(x('validate', { xmlns: NS_XDATA_VALIDATE, datatype: 'xs:string' }, x('open')));
  return x('query', { xmlns: NS_MAM }, form);
}

/**
 * The `ids` filter (§4.1.3): those messages, in archive order, that also pass
 * the query's other filters; an id not in the archive fails the query
 * (item-not-found). RSM applies too (XEP-0059 §2.1): a page of `max` from
 * the end it pages from.
 */
export async function pageByIds(archive: ArchiveStore, owner: string, ids: string[], q: PageQuery, maxIds: number): Promise<{ items: ArchivedMessage[]; complete: boolean }> {
  if (ids.length > maxIds) throw new StanzaError('policy-violation', `at most ${maxIds} ids per query`);
  let items: ArchivedMessage[] = [];
  for (const id of [...new Set(ids)].sort()) {
    const m = await archive.get(owner, id);
    if (m === undefined) throw new StanzaError('item-not-found', `no message '${id}' in this archive`);
    if (q.with !== undefined && m.with !== q.with) continue;
    if (q.peer !== undefined && m.peer !== q.peer) continue;
    if (q.lower !== undefined && (id < q.lower.key || (q.lower.exclusive && id === q.lower.key))) continue;
    if (q.upper !== undefined && (id > q.upper.key || (q.upper.exclusive && id === q.upper.key))) continue;
    items.push(m);
  }
  const complete = items.length <= q.max;
  if (!complete) items = q.reverse ? items.slice(items.length - q.max) : items.slice(0, q.max);
  return { items, complete };
}

/** §5: the first and last message of the archive (none in an empty one). */
export async function archiveMetadata(archive: ArchiveStore, owner: string): Promise<XmlElement> {
  const b = await archive.bounds(owner);
  const md = x('metadata', { xmlns: NS_MAM });
  if (b !== null) {
    md.append(x('start', { id: b.first.id, timestamp: formatDateTime(b.first.ts) }), x('end', { id: b.last.id, timestamp: formatDateTime(b.last.ts) }));
  }
  return md;
}
