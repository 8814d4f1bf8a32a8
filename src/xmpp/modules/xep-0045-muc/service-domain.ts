import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { parseRsm, rsmSet } from '../../rsm.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/api.js';
import { NS_MUC, NS_MUC_UNIQUE, NS_STABLE_ID, NS_VCARD } from './ns.js';

/** A room as the service's disco#items lists it. */
export interface PublicRoom {
  jid: string;
  name: string;
}

/** Most rooms one disco#items answer lists, asked for (RSM max) or not: pubsub's DISCO_PAGE. */
export const ROOM_LIST_PAGE = 100;

/** One page of public rooms in JID order, after `after` or before `before` ('' for the end), and whether more follow in that direction. */
export type PublicRoomsPage = (from: { after?: string; before?: string }, max: number) => Promise<{ rooms: PublicRoom[]; more: boolean }>;

/**
 * The payload of the result to an iq get to the service domain itself: its
 * disco#info (§6.2) with the features extensions give every room
 * (`featuresOfEveryRoom`), its public rooms (§6.3, read only when asked), a
 * unique room name (§10.1.4) and its vCard, which is empty. Anything else is
 * service-unavailable.
 *
 * Anyone, remote users too, may list the rooms as often as they like, so the
 * list comes in pages (XEP-0059, as §6.3 allows): a `<set/>` with `max`,
 * `after` or `before` (room JIDs are the UIDs) gets that page with its
 * `<first/>` and `<last/>`; no `<set/>` gets the first ROOM_LIST_PAGE rooms,
 * with a `<set/>` only when more follow. No `<count/>`: it would take reading
 * every stored room, which XEP-0059 §2.1 lets a service spare.
 */
export async function serviceDomainAnswer(
  payload: XmlElement | undefined,
  serviceName: string,
  featuresOfEveryRoom: readonly string[],
  publicRooms: PublicRoomsPage,
): Promise<XmlElement> {
  if (payload === undefined) throw new StanzaError('service-unavailable');
  const ns = payload.attrs.xmlns;
  if ((ns === NS_DISCO_INFO || ns === NS_DISCO_ITEMS) && payload.name === 'query') {
    if (payload.attrs.node !== undefined) throw new StanzaError('item-not-found');
    if (ns === NS_DISCO_INFO) {
      return x(
        'query',
        { xmlns: NS_DISCO_INFO },
        x('identity', { category: 'conference', type: 'text', name: serviceName }),
        // vcard-temp: XEP-0486 §3.1, clients look for it here to know that rooms have avatars.
        ...[NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_UNIQUE, NS_STABLE_ID, NS_VCARD, ...featuresOfEveryRoom].map((f) => x('feature', { var: f })),
      );
    }
    const rsm = parseRsm(payload, ROOM_LIST_PAGE);
    const { rooms, more } = await publicRooms(rsm.before !== undefined ? { before: rsm.before } : { after: rsm.after }, rsm.max);
    const query = x('query', { xmlns: NS_DISCO_ITEMS }, ...rooms.map((r) => x('item', { jid: r.jid, name: r.name || undefined })));
    if (rsm.asked || more) query.append(rsmSet(rooms[0]?.jid, rooms[rooms.length - 1]?.jid));
    return query;
  }
  // Advertising vcard-temp, the service answers for its own vCard: it has none (XEP-0054 §3.1: empty).
  if (ns === NS_VCARD && payload.name === 'vCard') return x('vCard', { xmlns: NS_VCARD });
  if (ns === NS_MUC_UNIQUE && payload.name === 'unique') return x('unique', { xmlns: NS_MUC_UNIQUE }, randomHex(12));
  throw new StanzaError('service-unavailable');
}
