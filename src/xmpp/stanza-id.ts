/**
 * XEP-0359's namespace, for `<stanza-id by= id=/>` (stamped by an archive or a
 * room) and `<origin-id id=/>` (set by the sending client). It lives in the
 * core, as NS_STANZAS does in errors.ts, because archiving, rooms, stream
 * management, push, retraction, moderation, spam reports and offline storage
 * all read these elements and none of them should import another module for a
 * string.
 */
export const NS_SID = 'urn:xmpp:sid:0';
