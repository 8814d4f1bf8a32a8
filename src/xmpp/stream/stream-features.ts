import { x, type XmlElement } from '../../util/xml.js';
import type { Server } from '../server.js';
import type { Transport } from '../transport/transport.js';
import { NS_TLS } from '../rfc6120-namespaces.js';

export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';
export const NS_LIMITS = 'urn:xmpp:stream-limits:0';

/** Built once per (size, module limits) pair: both change only with the configuration or a module starting or stopping. */
const limitsCache = new WeakMap<ReadonlyMap<string, number>, { maxBytes: number; el: XmlElement }>();

/**
 * XEP-0478 `<limits/>`: `max-bytes` is the parser's stanza limit as it is. The
 * parser counts UTF-16 code units, and a UTF-8 encoding is never shorter than
 * that count, so a stanza of `maxStanzaSize` bytes is always accepted. Seconds
 * are rounded down: the peer is told no later than when we act.
 */
export function streamLimits(maxStanzaSize: number, others: ReadonlyMap<string, number>): XmlElement {
  const cached = limitsCache.get(others);
  if (cached !== undefined && cached.maxBytes === maxStanzaSize) return cached.el;
  const el = x('limits', { xmlns: NS_LIMITS }, x('max-bytes', null, String(maxStanzaSize)));
  for (const [name, value] of others) el.append(x(name, null, String(Math.floor(value))));
  limitsCache.set(others, { maxBytes: maxStanzaSize, el });
  return el;
}

/** Where a client stream is, for the features it is offered. */
export interface FeatureStage {
  host: string;
  authenticated: boolean;
  /** Plain TCP that must negotiate TLS before anything else. */
  tlsRequired: boolean;
}

/**
 * A client stream's `<stream:features/>` (RFC 6120 §4.3.2): before
 * authentication STARTTLS (required when it must come first) and, once
 * nothing else must come first, the SASL mechanisms (with SASL2 offered, the
 * stream's limits too, XEP-0478); after it, resource binding (and the RFC 3921
 * session, optional) and the stream's limits. Then whatever modules offer at
 * that stage, except while only STARTTLS may be negotiated.
 */
export function clientStreamFeatures(server: Server, transport: Transport, at: FeatureStage, saslFeatures: () => XmlElement[]): XmlElement {
  const f = x('stream:features');
  if (!at.authenticated) {
    if (transport.canStartTls && !transport.secure) f.append(x('starttls', { xmlns: NS_TLS }, at.tlsRequired ? x('required') : null));
    if (at.tlsRequired) return f;
    f.append(...saslFeatures());
    // A client that logs in with SASL2 (XEP-0388) and binds with Bind2 gets no features after authentication, so these are
    // the only ones it sees. XEP-0478 has nothing for <success/> or <bound/>; it puts the limits in the features at the
    // start of the stream, as Prosody does before authentication. Without SASL2 they still wait for authentication.
    if (server.config.c2s.sasl2) f.children.push(streamLimits(server.config.c2s.maxStanzaSize, server.registrations.streamLimits));
  } else {
    f.append(x('bind', { xmlns: NS_BIND }), x('session', { xmlns: NS_SESSION }, x('optional')));
    // Not before authentication unless SASL2 needs them there: XEP-0478's security considerations warn that they tell an attacker how large a stanza to make.
    // Pushed, not appended: the shared element must not keep this stream's features alive as its parent.
    f.children.push(streamLimits(server.config.c2s.maxStanzaSize, server.registrations.streamLimits));
  }
  const stage = at.authenticated ? 'post-auth' : 'pre-auth';
  const ctx = { secure: transport.secure, transport: transport.kind, host: at.host };
  for (const feature of server.registrations.streamFeatures) {
    if (feature.stage !== stage) continue;
    const el = feature.build(ctx);
    if (el !== null) f.append(el);
  }
  return f;
}
