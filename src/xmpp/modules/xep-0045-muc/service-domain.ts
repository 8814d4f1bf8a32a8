import { randomHex } from '../../../util/random-token.js';
import { x, type XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/api.js';
import { NS_MUC, NS_MUC_UNIQUE, NS_STABLE_ID } from './ns.js';

/** A room as the service's disco#items lists it. */
export interface PublicRoom {
  jid: string;
  name: string;
}

/**
 * The payload of the result to an iq get to the service domain itself: its
 * disco#info (§6.2) with the features extensions give every room
 * (`featuresOfEveryRoom`), its public rooms (§6.3, read only when asked) and a
 * unique room name (§10.1.4). Anything else is service-unavailable.
 */
export async function serviceDomainAnswer(
  payload: XmlElement | undefined,
  serviceName: string,
  featuresOfEveryRoom: readonly string[],
  publicRooms: () => Promise<PublicRoom[]>,
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
        ...[NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_UNIQUE, NS_STABLE_ID, ...featuresOfEveryRoom].map((f) => x('feature', { var: f })),
      );
    }
    return x('query', { xmlns: NS_DISCO_ITEMS }, ...(await publicRooms()).map((r) => x('item', { jid: r.jid, name: r.name || undefined })));
  }
  if (ns === NS_MUC_UNIQUE && payload.name === 'unique') return x('unique', { xmlns: NS_MUC_UNIQUE }, randomHex(12));
  throw new StanzaError('service-unavailable');
}
