import { tryParseJid, type Jid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { DataFormError, getFormType, NS_DATA, parseForm, type DataForm } from '../../../util/data-form.js';
import { parseDateTimeUs } from '../../../util/xep-0082-datetime.js';
import { StanzaError } from '../../errors.js';
import { isArchiveId, timeKey } from './archive-id.js';
import type { Bound } from './archive.js';

export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_RSM = 'http://jabber.org/protocol/rsm';

/** Fields a query form may carry (XEP-0313 §4.1); any other is feature-not-implemented (§4.1.5). */
const KNOWN_FIELDS = new Set(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids']);

/** A parsed archive query, before the store is asked anything. */
export interface ArchiveQuery {
  queryId: string | undefined;
  /** The `with` filter: bare JID always; `peer` set when a full JID was given. */
  with: string | undefined;
  peer: string | undefined;
  lower: Bound | undefined;
  upper: Bound | undefined;
  /**
   * The form's bounds alone, without RSM after/before: the full result set,
   * whose size RSM `<count/>` gives whatever page is asked for (XEP-0059 §2.2).
   */
  setLower: Bound | undefined;
  setUpper: Bound | undefined;
  /** Ids from before-id / after-id / RSM before / RSM after, which must exist in the archive (§4.1.3, §4.3.2). */
  referencedIds: string[];
  ids: string[] | undefined;
  max: number;
  /** RSM `<before/>` given (empty or an id): read backwards from the upper bound. */
  backward: boolean;
  flip: boolean;
}

function bad(text: string): never {
  throw new StanzaError('bad-request', text);
}

/** The later of two lower bounds (a tie goes to the exclusive one). */
function maxLower(a: Bound | undefined, b: Bound): Bound {
  if (a === undefined || b.key > a.key || (b.key === a.key && b.exclusive)) return b;
  return a;
}

function minUpper(a: Bound | undefined, b: Bound): Bound {
  if (a === undefined || b.key < a.key || (b.key === a.key && b.exclusive)) return b;
  return a;
}

/** An id the client refers to: unknown shapes can never be in the archive. */
function archiveId(value: string): string {
  if (!isArchiveId(value)) throw new StanzaError('item-not-found', `no message '${value}' in this archive`);
  return value;
}

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const us = parseDateTimeUs(value);
  if (us === null) bad(`'${name}' is not an XEP-0082 DateTime`);
  return us;
}

/**
 * Reads `<query xmlns='urn:xmpp:mam:2'>`: the data form (with, start, end,
 * before-id, after-id, ids) and the RSM set (max, after, before, empty before
 * = last page), plus `<flip-page/>`. A `max` over `maxPageSize` gets a page
 * of `maxPageSize` (XEP-0313 §4.3.1: the server "MAY simply return its
 * limited results"), whose `complete='false'` tells the client to page on,
 * as every client does; an error would leave it with no history at all.
 */
export function parseQuery(payload: XmlElement, limits: { defaultPageSize: number; maxPageSize: number }): ArchiveQuery {
  const q: ArchiveQuery = {
    queryId: payload.attrs.queryid,
    with: undefined,
    peer: undefined,
    lower: undefined,
    upper: undefined,
    setLower: undefined,
    setUpper: undefined,
    referencedIds: [],
    ids: undefined,
    max: limits.defaultPageSize,
    backward: false,
    flip: payload.getChild('flip-page', NS_MAM) !== undefined,
  };

  const formEl = payload.getChild('x', NS_DATA);
  if (formEl !== undefined) {
    let form: DataForm;
    try {
      form = parseForm(formEl);
    } catch (e) {
      bad(e instanceof DataFormError ? e.message : 'malformed data form');
    }
    if (form.type !== 'submit') bad("the query form must be of type 'submit'");
    const formType = getFormType(form);
    if (formType !== undefined && formType !== NS_MAM) bad(`FORM_TYPE must be ${NS_MAM}`);
    const single = (name: string): string | undefined => {
      const f = form.fields.find((f) => f.var === name);
      if (f === undefined || f.values.length === 0) return undefined;
      if (f.values.length > 1) bad(`'${name}' takes one value`);
      return f.values[0];
    };
    for (const f of form.fields) {
      if (f.var === undefined || !KNOWN_FIELDS.has(f.var)) throw new StanzaError('feature-not-implemented', `unknown field '${f.var ?? ''}'`, 'cancel');
    }
    const withValue = single('with');
    if (withValue !== undefined) {
      const jid: Jid | null = tryParseJid(withValue);
      if (jid === null) throw new StanzaError('jid-malformed', `'with' is not a JID`);
      q.with = jid.bare;
      if (jid.resource !== '') q.peer = jid.full;
    }
    const start = parseTime('start', single('start'));
    const end = parseTime('end', single('end'));
    if (start !== undefined) q.lower = { key: timeKey(start), exclusive: false };
    if (end !== undefined) q.upper = { key: timeKey(end + 1), exclusive: true };
    const afterId = single('after-id');
    const beforeId = single('before-id');
    if (afterId !== undefined) {
      q.referencedIds.push(archiveId(afterId));
      q.lower = maxLower(q.lower, { key: afterId, exclusive: true });
    }
    if (beforeId !== undefined) {
      q.referencedIds.push(archiveId(beforeId));
      q.upper = minUpper(q.upper, { key: beforeId, exclusive: true });
    }
    const ids = form.fields.find((f) => f.var === 'ids')?.values;
    if (ids !== undefined && ids.length > 0) q.ids = ids.map(archiveId);
  }

  q.setLower = q.lower;
  q.setUpper = q.upper;
  const set = payload.getChild('set', NS_RSM);
  if (set !== undefined) {
    const maxText = set.getChildText('max');
    if (maxText !== undefined) {
      if (!/^\d{1,9}$/.test(maxText.trim())) bad('RSM max must be a non-negative integer');
      const max = Number(maxText.trim());
      q.max = Math.min(max, limits.maxPageSize);
    }
    const after = set.getChild('after');
    const before = set.getChild('before');
    if (after !== undefined && before !== undefined) bad('RSM after and before together are undefined; use after-id and before-id');
    if (set.getChild('index') !== undefined) throw new StanzaError('feature-not-implemented', 'RSM index is not supported', 'cancel');
    if (after !== undefined) {
      const id = archiveId(after.getText().trim());
      q.referencedIds.push(id);
      q.lower = maxLower(q.lower, { key: id, exclusive: true });
    }
    if (before !== undefined) {
      q.backward = true;
      const text = before.getText().trim();
      if (text !== '') {
        const id = archiveId(text);
        q.referencedIds.push(id);
        q.upper = minUpper(q.upper, { key: id, exclusive: true });
      }
    }
  }
  return q;
}
