/**
 * XEP-0203 Delayed Delivery. It lives in the core, beside NS_SID in
 * stanza-id.ts, because offline storage, stream management's requeue, room
 * history, both archives and push all stamp or read `<delay/>`, and none of
 * them should import another module for it.
 */
import { x, type XmlElement } from '../util/xml.js';
import { formatDateTime } from '../util/xep-0082-datetime.js';

export const NS_DELAY = 'urn:xmpp:delay';

/**
 * `<delay stamp=… [from=…]>[text]</delay>` (XEP-0203 §2). The stamp is a
 * XEP-0082 DateTime in UTC, as the XEP requires, with milliseconds; `from` is
 * the entity that delayed the stanza (this server, a room) and is optional:
 * an archive result leaves it out; `text` is the optional natural-language
 * reason.
 */
export function delayElement(stampMs: number, from?: string, text?: string): XmlElement {
  const stamp = formatDateTime(stampMs);
  return x('delay', from === undefined ? { xmlns: NS_DELAY, stamp } : { xmlns: NS_DELAY, from, stamp }, text);
}

/**
 * Whether a direct child `<delay/>` names `from` as who delayed it: how this
 * server recognises a message it holds or hands out again (offline storage,
 * stream management's requeue) by its own stamp.
 */
export function delayedBy(stanza: XmlElement, from: string): boolean {
  return stanza.getChildren('delay', NS_DELAY).some((d) => d.attrs.from === from);
}
