/**
 * XEP-0156 with a real web client library: stanza is given no URL at all,
 * only a JID and a password, finds the WebSocket endpoint in sori's
 * host-meta over HTTPS (as Converse.js and stanza do in a browser) and logs
 * in through it. The XRD and JRD documents are also checked as served.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import * as Stanza from 'stanza';
import type { Sori } from '../src/sori.js';
import { startTestSori } from '../src/testing/test-sori.js';
import { parseJid } from '../src/util/jid.js';
import { parseXml } from '../src/testing/parse-xml.js';
import { withTimeout } from './support/clients.js';

const DOMAIN = 'localhost';

describe('XEP-0156 host-meta: a web client finds the WebSocket endpoint by itself', function () {
  this.timeout(30_000);
  let sori: Sori;
  let previousTlsSetting: string | undefined;

  before(async () => {
    // The wss:// listener is what stanza is to find (any configured port becomes an ephemeral one here).
    sori = await startTestSori({ websocket: { tlsPort: 5443 } });
    await sori.server.accounts.create(parseJid(`alice@${DOMAIN}`), 'alice-pw');
    // The listener's certificate is self-signed; stanza's fetch and WebSocket use Node's defaults.
    previousTlsSetting = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  });
  after(async () => {
    if (previousTlsSetting === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previousTlsSetting;
    await sori.stop();
  });

  it('serves the XRD and the JRD with the listener the request came in on, readable cross-origin', async () => {
    const wss = sori.listening.ports.wss!;
    const ws = sori.listening.ports.ws!;
    const xrd = await fetch(`https://127.0.0.1:${wss}/.well-known/host-meta`);
    expect(xrd.status).to.equal(200);
    expect(xrd.headers.get('access-control-allow-origin')).to.equal('*');
    const links = parseXml(await xrd.text()).getChildren('Link').map((l) => [l.attrs.rel, l.attrs.href]);
    expect(links).to.deep.equal([
      ['urn:xmpp:alt-connections:websocket', `wss://127.0.0.1:${wss}/xmpp-websocket`],
      ['urn:xmpp:alt-connections:xbosh', `https://127.0.0.1:${wss}/http-bind`],
    ]);
    const jrd = await fetch(`http://127.0.0.1:${ws}/.well-known/host-meta.json`);
    expect(jrd.headers.get('content-type')).to.equal('application/json');
    expect(await jrd.json()).to.deep.equal({
      links: [
        { rel: 'urn:xmpp:alt-connections:websocket', href: `ws://127.0.0.1:${ws}/xmpp-websocket` },
        { rel: 'urn:xmpp:alt-connections:xbosh', href: `http://127.0.0.1:${ws}/http-bind` },
      ],
    });
    // A Host header that is not a plain host[:port] is not echoed into the links (fetch cannot set one: http.get can).
    const odd = await new Promise<number>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: ws, path: '/.well-known/host-meta', headers: { host: 'evil.example/"><x' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject),
    );
    expect(odd).to.equal(400);
  });

  it('gives wss:// and https:// links on the plain listener when TLS ends at a proxy in front of it (websocket.consideredSecure)', async () => {
    const proxied = await startTestSori({ websocket: { consideredSecure: true } });
    try {
      const ws = proxied.listening.ports.ws!;
      const jrd = await fetch(`http://127.0.0.1:${ws}/.well-known/host-meta.json`);
      expect(await jrd.json()).to.deep.equal({
        links: [
          { rel: 'urn:xmpp:alt-connections:websocket', href: `wss://127.0.0.1:${ws}/xmpp-websocket` },
          { rel: 'urn:xmpp:alt-connections:xbosh', href: `https://127.0.0.1:${ws}/http-bind` },
        ],
      });
    } finally {
      await proxied.stop();
    }
  });

  it('stanza, given only a JID and a password, discovers wss:// there and logs in', async () => {
    // stanza asks https://localhost/.well-known/… (port 443, as a browser page would): that one request goes to sori's wss listener.
    const wss = sori.listening.ports.wss!;
    // stanza's Node platform module holds the fetch its discovery calls.
    const platform = createRequire(import.meta.url)('stanza/platform/node') as { fetch: typeof fetch };
    const realFetch = platform.fetch;
    const asked: string[] = [];
    platform.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      asked.push(url);
      return realFetch(url.replace(/^https:\/\/localhost\//, `https://127.0.0.1:${wss}/`), init);
    }) as typeof fetch;
    const agent = Stanza.createClient({ jid: `alice@${DOMAIN}`, password: 'alice-pw', transports: { websocket: true, bosh: false } });
    const started = new Promise<void>((ok, fail) => {
      agent.once('session:started', () => ok());
      agent.once('auth:failed', () => fail(new Error('authentication failed')));
    });
    agent.connect();
    try {
      await withTimeout(started, 15_000, 'stanza login through host-meta');
      expect(agent.jid).to.match(/^alice@localhost\//);
      expect(asked).to.include('https://localhost/.well-known/host-meta.json');
      expect((agent.transport as unknown as { config?: { url?: string } }).config?.url).to.equal(`wss://127.0.0.1:${wss}/xmpp-websocket`);
    } finally {
      platform.fetch = realFetch;
      agent.disconnect();
    }
  });
});
