import { x, type XmlElement } from '../../../util/xml.js';

export const NS_BOOKMARKS = 'urn:xmpp:bookmarks:1';
/** XEP-0048 bookmarks, as kept in XEP-0049 private storage. */
export const NS_LEGACY = 'storage:bookmarks';

const truthy = (v: string | undefined): boolean => v === 'true' || v === '1';

/**
 * The XEP-0048 `<storage/>` holding every XEP-0402 item (§5.3.1 of
 * XEP-0402: the item id becomes the conference's jid). `urls` are the
 * web-page bookmarks of the stored list, which XEP-0402 has no place for.
 */
export function legacyStorage(items: ReadonlyArray<{ id: string; payload: XmlElement }>, urls: readonly XmlElement[]): XmlElement {
  const storage = x('storage', { xmlns: NS_LEGACY });
  for (const { id, payload } of items) {
    if (payload.name !== 'conference' || payload.attrs.xmlns !== NS_BOOKMARKS) continue;
    storage.append(legacyConference(id, payload));
  }
  for (const u of urls) storage.append(u.clone());
  return storage;
}

/** What an XEP-0048 client is shown of one XEP-0402 item. */
function legacyConference(id: string, payload: XmlElement): XmlElement {
  const c = x('conference', { jid: id, name: payload.attrs.name, autojoin: truthy(payload.attrs.autojoin) ? 'true' : 'false' });
  for (const child of ['nick', 'password']) {
    const text = payload.getChildText(child);
    if (text !== undefined) c.append(x(child, null, text));
  }
  return c;
}

/**
 * The XEP-0402 item payload for an XEP-0048 `<conference/>`. The
 * `<extensions/>` of the item it replaces are kept: XEP-0402 asks clients
 * (and so the server acting for an old one) to preserve what they do not know.
 */
export function nativeConference(conference: XmlElement, previous: XmlElement | undefined): XmlElement {
  const c = x('conference', { xmlns: NS_BOOKMARKS, name: conference.attrs.name, autojoin: truthy(conference.attrs.autojoin) ? 'true' : undefined });
  for (const child of ['nick', 'password']) {
    const text = conference.getChildText(child);
    if (text !== undefined) c.append(x(child, null, text));
  }
  const extensions = previous?.getChild('extensions');
  if (extensions !== undefined) c.append(extensions.clone());
  return c;
}

/**
 * Whether an item built by {@link nativeConference} says nothing new over
 * the stored one. Both go through the same conversion before comparing, so
 * what an XEP-0048 list cannot express (attribute order, `autojoin='1'`,
 * whitespace, unknown children) is not taken for a change: a legacy client
 * re-storing the list it read must not republish, and so notify, every item.
 */
export function sameConference(id: string, stored: XmlElement, wanted: XmlElement): boolean {
  if (stored.name !== 'conference' || stored.attrs.xmlns !== NS_BOOKMARKS) return false;
  return nativeConference(legacyConference(id, stored), stored).toString() === wanted.toString();
}
