/**
 * The wire form of BOSH (XEP-0124, XEP-0206) that both the endpoint and its sessions write: the `<body/>`
 * wrapper, the HTTP response that carries it, and the protocol version a session announces.
 */

import type { ServerResponse } from 'node:http';
import { openTag, type Attrs } from '../../util/xml.js';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const NS_XBOSH = 'urn:xmpp:xbosh';
const NS_STREAM = 'http://etherx.jabber.org/streams';

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
