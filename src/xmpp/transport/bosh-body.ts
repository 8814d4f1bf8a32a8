/**
 * The wire form of BOSH (XEP-0124, XEP-0206) that both the endpoint and its sessions write: the `<body/>`
 * wrapper, the HTTP response that carries it, and the protocol version a session announces; and what a
 * request's `<body/>` is to the XMPP stream it carries.
 */

import type { ServerResponse } from 'node:http';
import { openTag, serialize, x, type Attrs, type XmlElement } from '../../util/xml.js';
import { NS_CLIENT, NS_FRAMING, NS_STREAM } from '../rfc6120-namespaces.js';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';

/** The XEP-0124 version implemented here. */
const VERSION = { major: 1, minor: 11 };

/**
 * §7.2: the version a session speaks is ours or the client's, whichever is lower, its major and minor
 * numbers compared as integers (1.6 is below 1.11). A client that gave none, or an unreadable one, gets ours.
 */
export function sessionVersion(asked: string | undefined): string {
  const m = asked === undefined ? null : /^(\d{1,4})\.(\d{1,4})$/.exec(asked);
  if (m !== null) {
    const major = Number(m[1]);
    const minor = Number(m[2]);
    if (major < VERSION.major || (major === VERSION.major && minor < VERSION.minor)) return `${major}.${minor}`;
  }
  return `${VERSION.major}.${VERSION.minor}`;
}

/** Writes a complete BOSH response body. */
export function writeBody(res: ServerResponse, body: string): void {
  if (res.writableEnded) return;
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

/** A `<body/>` with the given attributes around already serialised payloads. */
export function bodyXml(attrs: Attrs, payload = ''): string {
  const open = openTag('body', { xmlns: NS_HTTPBIND, 'xmlns:xmpp': NS_XBOSH, 'xmlns:stream': NS_STREAM, ...attrs });
  return payload === '' ? `${open.slice(0, -1)}/>` : `${open}${payload}</body>`;
}

/**
 * What a request hands the c2s stream, in framed (RFC 7395) form: the stream opening for the session
 * creation request (`creating`, while its response is not sent), or for a stream restart; then its stanzas,
 * and the stream's close for a terminate.
 */
export function streamInput(body: XmlElement, creating: boolean): string[] {
  const a = body.attrs;
  if (creating && a.sid === undefined) {
    return [serialize(x('open', { xmlns: NS_FRAMING, to: a.to, version: a['xmpp:version'] ?? a.version, 'xml:lang': a['xml:lang'] })), ...stanzas(body)];
  }
  // XEP-0206 §5: the stream restart after SASL, on its own request.
  if (a['xmpp:restart'] === 'true') return [serialize(x('open', { xmlns: NS_FRAMING, to: a.to ?? undefined, version: '1.0', 'xml:lang': a['xml:lang'] }))];
  return stanzas(body);
}

function stanzas(body: XmlElement): string[] {
  const out: string[] = [];
  for (const child of body.children) {
    if (typeof child === 'string') continue;
    // Stanzas belong to jabber:client even where a client leaves it to the body's default namespace.
    if (child.attrs.xmlns === undefined || child.attrs.xmlns === NS_HTTPBIND) child.attrs.xmlns = NS_CLIENT;
    out.push(serialize(child));
  }
  if (body.attrs.type === 'terminate') out.push(serialize(x('close', { xmlns: NS_FRAMING })));
  return out;
}
