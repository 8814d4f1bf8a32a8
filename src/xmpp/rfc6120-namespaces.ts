/**
 * The namespaces of the stream layer itself (RFC 6120 §4.8.1 and §11, RFC 7395 §3.3), which c2s, s2s,
 * component, BOSH and WebSocket streams all speak. Stanza error namespaces live in errors.ts beside the
 * conditions they qualify.
 */
export const NS_STREAM = 'http://etherx.jabber.org/streams';
export const NS_CLIENT = 'jabber:client';
export const NS_SERVER = 'jabber:server';
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
/** RFC 7395: the <open/> and <close/> that stand for the stream header on WebSocket (and in sori's BOSH). */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
