/** The namespaces of XEP-0045 and of the XEPs a room answers for itself. */
export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = `${NS_MUC}#user`;
export const NS_MUC_ADMIN = `${NS_MUC}#admin`;
export const NS_MUC_OWNER = `${NS_MUC}#owner`;
export const NS_MUC_UNIQUE = `${NS_MUC}#unique`;
export const NS_STABLE_ID = `${NS_MUC}#stable_id`;
export const NS_PING = 'urn:xmpp:ping';
export { NS_SID } from '../../stanza-id.js';
export const NS_VCARD = 'vcard-temp';
/** XEP-0421: rooms carry it when the occupant-id module is on; moderation (XEP-0425) names occupants with it. */
export const NS_OCCUPANT_ID = 'urn:xmpp:occupant-id:0';
/** XEP-0077 in-band registration, which a room answers to let users register with it (XEP-0045 §7.10). */
export const NS_REGISTER = 'jabber:iq:register';
export const NS_MUC_REGISTER = `${NS_MUC}#register`;
