import { x, type XmlElement } from '../util/xml.js';
import { StanzaError } from './errors.js';

export const NS_RSM = 'http://jabber.org/protocol/rsm';

/**
 * A page asked for with XEP-0059 Result Set Management, read from a request's
 * `<set/>` (or its absence). `after` and `before` are the client's opaque
 * UIDs; `before` '' is the last page (§2.5). `asked` is false without a
 * `<set/>`: the page is then the service's own limit, and the answer carries a
 * `<set/>` only when that limit cut the result set short (XEP-0059 §1: the
 * responding entity may proactively page a large result set).
 */
export interface RsmRequest {
  max: number;
  after: string | undefined;
  before: string | undefined;
  asked: boolean;
}

/**
 * Parses the `<set/>` child of `query`. A `max` over `limit` gets a page of
 * `limit`, which the answer's `<last/>` lets the client page on from; an
 * `<index/>` (§2.6, jumping to a page) is not offered, as it would need the
 * rows before it to be read.
 */
export function parseRsm(query: XmlElement, limit: number): RsmRequest {
  const set = query.getChild('set', NS_RSM);
  if (set === undefined) return { max: limit, after: undefined, before: undefined, asked: false };
  let max = limit;
  const maxText = set.getChildText('max');
  if (maxText !== undefined) {
    if (!/^\d{1,9}$/.test(maxText.trim())) throw new StanzaError('bad-request', 'RSM max must be a non-negative integer');
    max = Math.min(Number(maxText.trim()), limit);
  }
  if (set.getChild('index') !== undefined) throw new StanzaError('feature-not-implemented', 'RSM index is not supported', 'cancel');
  const after = set.getChild('after');
  const before = set.getChild('before');
  if (after !== undefined && before !== undefined) throw new StanzaError('bad-request', 'RSM after and before together are undefined');
  const afterText = after?.getText();
  if (afterText === '') throw new StanzaError('bad-request', 'RSM after needs an item UID');
  return { max, after: afterText, before: before?.getText(), asked: true };
}

/** The answer's `<set/>` (§2.1): the UIDs of the page's first and last items, none for an empty page, and `count` when known. */
export function rsmSet(first: string | undefined, last: string | undefined, count?: number): XmlElement {
  const set = x('set', { xmlns: NS_RSM });
  if (first !== undefined && last !== undefined) {
    set.append(x('first', null, first));
    set.append(x('last', null, last));
  }
  if (count !== undefined) set.append(x('count', null, String(count)));
  return set;
}
