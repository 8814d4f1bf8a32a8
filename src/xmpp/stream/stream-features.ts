import { x, type XmlElement } from '../../util/xml.js';
import type { Server } from '../server.js';
import type { Transport } from '../transport/transport.js';

export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';

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
 * nothing else must come first, the SASL mechanisms; after it, resource
 * binding (and the RFC 3921 session, optional). Then whatever modules offer
 * at that stage, except while only STARTTLS may be negotiated.
 */
export function clientStreamFeatures(server: Server, transport: Transport, at: FeatureStage, saslFeatures: () => XmlElement[]): XmlElement {
  const f = x('stream:features');
  if (!at.authenticated) {
    if (transport.canStartTls && !transport.secure) f.append(x('starttls', { xmlns: NS_TLS }, at.tlsRequired ? x('required') : null));
    if (at.tlsRequired) return f;
    f.append(...saslFeatures());
  } else {
    f.append(x('bind', { xmlns: NS_BIND }), x('session', { xmlns: NS_SESSION }, x('optional')));
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
