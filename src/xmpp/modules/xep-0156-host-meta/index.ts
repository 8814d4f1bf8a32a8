import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeAttr } from '../../../util/xml.js';
import { defineModule, type ServerApi } from '../../module.js';

const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';
const REL_BOSH = 'urn:xmpp:alt-connections:xbosh';
const XML_PATH = '/.well-known/host-meta';
const JSON_PATH = '/.well-known/host-meta.json';
/** A plain host[:port]: no path, no spaces, no quotes. */
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export interface ConnectionLink {
  rel: string;
  href: string;
}

/**
 * The links for one request: the configured public URLs, or else the
 * listener the request came in on (its scheme, its Host header) with the
 * endpoint's path, which is right whenever clients reach sori directly or
 * through a proxy that ends TLS and passes the Host header on.
 */
export function connectionLinks(server: ServerApi, req: IncomingMessage, configured: { websocketUrl: string | undefined; boshUrl: string | undefined }): ConnectionLink[] | null {
  const host = req.headers.host;
  const hostUsable = host !== undefined && HOST_HEADER.test(host);
  const { websocket, bosh, tlsAtProxy } = server.connectionPaths;
  // Behind a proxy that ends TLS, the page that asks is on https: ws:// and http:// links would be blocked as mixed content.
  const secure = tlsAtProxy || (req.socket as { encrypted?: boolean }).encrypted === true;
  const wanted: Array<[rel: string, url: string | undefined, path: string, scheme: string]> = [
    [REL_WEBSOCKET, configured.websocketUrl, websocket, secure ? 'wss' : 'ws'],
    [REL_BOSH, configured.boshUrl, bosh, secure ? 'https' : 'http'],
  ];
  const links: ConnectionLink[] = [];
  for (const [rel, url, path, scheme] of wanted) {
    if (url !== undefined) links.push({ rel, href: url });
    else if (path !== '') {
      // Only a plain host[:port] is echoed into a link.
      if (!hostUsable) return null;
      links.push({ rel, href: `${scheme}://${host}${path}` });
    }
  }
  return links;
}

function xrd(links: ConnectionLink[]): string {
  const body = links.map((l) => `  <Link rel="${escapeAttr(l.rel)}" href="${escapeAttr(l.href)}"/>`).join('\n');
  return `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n${body}\n</XRD>\n`;
}

/**
 * XEP-0156 §3: web clients (Converse.js, stanza) find the WebSocket and BOSH
 * endpoints of a domain at `/.well-known/host-meta` (XRD) and
 * `/.well-known/host-meta.json` (JRD), fetched cross-origin from the page,
 * hence `Access-Control-Allow-Origin: *`. Served on sori's HTTP listeners;
 * behind a reverse proxy or on another origin, set the public URLs, since
 * the links derived from the request name the listener it came in on.
 */
export default defineModule({
  name: 'host-meta',
  implements: 'XEP-0156 (HTTP lookup: host-meta and host-meta.json)',
  defaultEnabled: true,
  options: {
    websocketUrl: { type: 'optional-string', doc: 'Public WebSocket URL to advertise (e.g. "wss://chat.example.org/xmpp-websocket"); default: the listener the request came in on.' },
    boshUrl: { type: 'optional-string', doc: 'Public BOSH URL to advertise (e.g. "https://chat.example.org/http-bind"); default: the listener the request came in on.' },
  },
  start(ctx) {
    const configured = { websocketUrl: ctx.options.websocketUrl, boshUrl: ctx.options.boshUrl };
    const serve = (json: boolean) => (req: IncomingMessage, res: ServerResponse): void => {
      const links = connectionLinks(ctx.server, req, configured);
      if (links === null) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('a Host header naming this server is needed\n');
        return;
      }
      const headers = { 'access-control-allow-origin': '*', 'cache-control': 'max-age=3600' };
      if (json) res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(`${JSON.stringify({ links })}\n`);
      else res.writeHead(200, { ...headers, 'content-type': 'application/xrd+xml' }).end(xrd(links));
    };
    ctx.httpRoute(XML_PATH, serve(false));
    ctx.httpRoute(JSON_PATH, serve(true));
  },
});
