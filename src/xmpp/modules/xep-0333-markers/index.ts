import { defineModule } from '../../module.js';

export const NS_MARKERS = 'urn:xmpp:chat-markers:0';

/**
 * XEP-0333 Displayed Markers: markers are ordinary messages, so the server's
 * part is to advertise the feature and to treat them like the conversation
 * they belong to. Nothing here touches them; the rules live where the
 * messages are handled:
 *  - routing: the router delivers them like any message (RFC 6121 §8.5);
 *  - archiving: mam keeps `<received/>`, `<displayed/>`, `<acknowledged/>`
 *    (xep-0313-mam/policy.ts, KEPT_PAYLOADS), and `<markable/>` messages as
 *    messages with a body;
 *  - carbons: markers of chat messages are copied to the user's other
 *    devices, type normal ones too (xep-0280-carbons/eligible.ts, IM_PAYLOADS),
 *    so that "read on one device" clears the others.
 * The tests beside this file prove the three.
 */
export default defineModule({
  name: 'markers',
  implements: 'XEP-0333',
  start(ctx) {
    ctx.feature(NS_MARKERS, 'both');
  },
});
