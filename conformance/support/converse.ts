/**
 * Converse.js, the web client, in headless Chromium (Debian's, driven by
 * playwright-core): its own release from the npm registry, unchanged,
 * served from a local HTTP server with a page that starts it against a
 * sori WebSocket endpoint. scripts/setup-converse.sh fetches both.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CONVERSE_DIST = path.resolve('.cache/converse/package/dist');
export const CHROMIUM = '/usr/bin/chromium';

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html' };

/**
 * The page: Converse's bundle, and a one-line plugin (Converse's own plugin
 * API) that hands the test its `api` for what a user would do by clicking
 * through menus (opening a chat with a JID); typing and reading stay in the DOM.
 */
function page(settings: Record<string, unknown>): string {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/dist/converse.min.css"><script type="module" src="/dist/converse.min.js"></script></head>
<body class="converse-fullscreen"><script type="module">
converse.plugins.add('sori-test', { initialize() { window.soriTest = { api: this._converse.api }; } });
converse.initialize(Object.assign(${JSON.stringify(settings)}, { whitelisted_plugins: ['sori-test'] }));
</script></body></html>`;
}

export interface ConverseHarness {
  /** A fresh browser context (its own storage: a new device) logged in as `jid`, with more of Converse's settings if given. */
  open(jid: string, password: string, settings?: Record<string, unknown>): Promise<Page>;
  /** What the pages printed to their consoles and which requests failed, for failure messages. */
  readonly log: string[];
  close(): Promise<void>;
}

/** `endpoint`: Converse's connection setting, `{ websocket_url }` or `{ bosh_service_url }`. */
export async function startConverse(endpoint: { websocket_url: string } | { bosh_service_url: string }): Promise<ConverseHarness> {
  if (!existsSync(path.join(CONVERSE_DIST, 'converse.min.js'))) throw new Error(`Converse.js is missing from ${CONVERSE_DIST}: run bash scripts/setup.sh`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run bash scripts/setup.sh (apt-get install chromium)`);
  const logins = new Map<string, { jid: string; password: string; settings: Record<string, unknown> }>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/') {
      const login = logins.get(url.searchParams.get('login') ?? '');
      if (login === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        page({ ...endpoint, discover_connection_methods: false, auto_login: true, jid: login.jid, password: login.password, view_mode: 'fullscreen', assets_path: '/dist/', play_sounds: false, show_desktop_notifications: false, loglevel: 'debug', ...login.settings }),
      );
      return;
    }
    const file = path.join(CONVERSE_DIST, path.normalize(url.pathname.replace(/^\/dist\//, '')).replace(/^(\.\.[/\\])+/, ''));
    if (!url.pathname.startsWith('/dist/') || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The flags keep Chromium off the network it cannot reach here (updates, sync, lookups of Google's hosts).
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let n = 0;
  const log: string[] = [];
  return {
    log,
    async open(jid, password, settings = {}) {
      const key = String(n++);
      logins.set(key, { jid, password, settings });
      const context = await browser.newContext();
      const p = await context.newPage();
      p.on('console', (m) => void log.push(`[${key} ${m.type()}] ${m.text().slice(0, 500)}`));
      p.on('pageerror', (e) => void log.push(`[${key} page error] ${e.message}`));
      p.on('response', (r) => void (r.status() >= 400 && log.push(`[${key} HTTP ${r.status()}] ${r.url()}`)));
      await p.goto(`${base}/?login=${key}`);
      return p;
    },
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
