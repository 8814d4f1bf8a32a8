import { NS_SID } from '../../stanza-id.js';
import { NS_RETRACT } from './index.js';

/** Stanzas the retraction tests share. */

/** A chat message with an origin id (XEP-0359), as clients that retract send them. */
export const chat = (to: string, body: string, originId: string): string =>
  `<message type='chat' to='${to}' id='${originId}'><body>${body}</body><origin-id xmlns='${NS_SID}' id='${originId}'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`;

/** A retraction as XEP-0424 shows it: the fallback body for old clients and a store hint. */
export const retract = (to: string, originId: string): string =>
  `<message type='chat' to='${to}' id='r-${originId}'><retract xmlns='${NS_RETRACT}' id='${originId}'/><fallback xmlns='urn:xmpp:fallback:0' for='${NS_RETRACT}'/><body>/me retracted a previous message, but it's unsupported by your client.</body><store xmlns='urn:xmpp:hints'/></message>`;
