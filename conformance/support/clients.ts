/**
 * Other people's XMPP clients, connected to a test server, with stanza waits
 * that time out instead of hanging a test.
 *   - @xmpp/client over TCP + STARTTLS, direct TLS, or WebSocket;
 *   - stanza over WebSocket or BOSH (it has no TCP transport).
 *
 * Certificates: the test server's certificate is self-signed. @xmpp/client
 * passes no TLS options through (its STARTTLS step calls tls.connect with only
 * the host), so certificate checks cannot be turned off per connection through
 * its API, and NODE_TLS_REJECT_UNAUTHORIZED would turn them off for the whole
 * process. Instead tls.connect is wrapped once: only connections whose remote
 * port was registered by trustTestPort() (startSori does it for its ports) skip
 * verification; every other TLS connection in the process is verified as usual.
 */
import tls from 'node:tls';
import { WebSocket as WsWebSocket } from 'ws';
import { client as xmppClient, xml, type XmppClient } from '@xmpp/client';
import type { Element } from 'ltx';
import * as Stanza from 'stanza';

export { xml };
export type { Element, XmppClient };

const trustedPorts = new Set<number>();
let tlsWrapped = false;

/** Lets TLS connections to 127.x.x.x:`port` (direct or via STARTTLS) use a self-signed certificate. */
export function trustTestPort(port: number): void {
  trustedPorts.add(port);
  if (tlsWrapped) return;
  tlsWrapped = true;
  const original = tls.connect;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const opts = args.find((a): a is tls.ConnectionOptions => typeof a === 'object' && a !== null);
    // STARTTLS upgrades an existing socket; direct TLS names host and port.
    const sock = opts?.socket as { remotePort?: number; remoteAddress?: string } | undefined;
    const port = sock?.remotePort ?? Number(opts?.port);
    const addr = sock?.remoteAddress ?? opts?.host;
    if (opts && trustedPorts.has(port) && /^(::ffff:)?127\./.test(addr ?? '')) {
      opts.rejectUnauthorized = false;
    }
    return (original as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
  };
  (tls as { connect: unknown }).connect = wrapped;
}

/** On Node 20 @xmpp/websocket needs a global WebSocket (Node 22+ has one). */
function ensureGlobalWebSocket(): void {
  const g = globalThis as { WebSocket?: unknown };
  if (!g.WebSocket) g.WebSocket = WsWebSocket;
}

export interface Account {
  username: string;
  password: string;
  resource?: string;
}

/** Runs `p` but rejects after `ms` with `what` in the message. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** A connected @xmpp/client plus a recorder of every stanza it received. */
export interface XmppSession {
  xmpp: XmppClient;
  jid: string;
  received: Element[];
  /** The first stanza (already received or still to come) matching `pred`. */
  waitFor(pred: (el: Element) => boolean, ms?: number, what?: string): Promise<Element>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** @xmpp/client's own per-step timeout (2 s by default); raised for tests on a busy machine. */
  stepTimeoutMs?: number;
  /** Default wait of `waitFor` (default: the login timeout). */
  waitMs?: number;
}

export async function startXmpp(service: string, domain: string, account: Account, ms: number, opts: StartOptions = {}): Promise<XmppSession> {
  const xmpp = xmppClient({ service, domain, username: account.username, password: account.password, resource: account.resource });
  if (opts.stepTimeoutMs !== undefined) (xmpp as unknown as { timeout: number }).timeout = opts.stepTimeoutMs;
  xmpp.reconnect.stop();
  const received: Element[] = [];
  const waiters: { pred: (el: Element) => boolean; ok: (el: Element) => void }[] = [];
  xmpp.on('stanza', (el: Element) => {
    received.push(el);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.pred(el)) waiters.splice(i, 1)[0]!.ok(el);
    }
  });
  xmpp.on('error', () => undefined); // failures surface through start() and waitFor()
  try {
    const jid = await withTimeout(xmpp.start(), ms, `login of ${account.username}@${domain} via ${service}`);
    return {
      xmpp,
      jid: jid.toString(),
      received,
      waitFor(pred, wait = opts.waitMs ?? ms, what = 'a matching stanza') {
        const seen = received.find(pred);
        if (seen) return Promise.resolve(seen);
        return withTimeout(new Promise<Element>((ok) => waiters.push({ pred, ok })), wait, `${what} for ${jid.toString()}`);
      },
      async stop() {
        await xmpp.stop().catch(() => undefined);
      },
    };
  } catch (e) {
    await xmpp.stop().catch(() => undefined);
    throw e;
  }
}

/** @xmpp/client over TCP with STARTTLS (port from startSori().port). */
export function connectTcp(server: { host: string; port: number; domain: string }, account: Account, ms = 10_000): Promise<XmppSession> {
  return startXmpp(`xmpp://${server.host}:${server.port}`, server.domain, account, ms);
}

/** @xmpp/client over direct TLS, XEP-0368 (port from startSori().directTlsPort). */
export function connectDirectTls(server: { host: string; directTlsPort: number; domain: string }, account: Account, ms = 10_000): Promise<XmppSession> {
  return startXmpp(`xmpps://${server.host}:${server.directTlsPort}`, server.domain, account, ms);
}

/** @xmpp/client over WebSocket, RFC 7395. */
export function connectWebSocket(server: { wsUrl: string; domain: string }, account: Account, ms = 10_000): Promise<XmppSession> {
  ensureGlobalWebSocket();
  return startXmpp(server.wsUrl, server.domain, account, ms);
}

/** A stanza.io client over WebSocket (or BOSH, XEP-0206, with `bosh`), resolved once its session has started. */
export async function connectStanza(
  server: { wsUrl: string; boshUrl?: string; domain: string },
  account: Account,
  ms = 10_000,
  opts: { bosh?: boolean } = {},
): Promise<Stanza.Agent> {
  const agent = Stanza.createClient({
    jid: `${account.username}@${server.domain}`,
    password: account.password,
    resource: account.resource,
    transports: opts.bosh === true ? { websocket: false, bosh: server.boshUrl! } : { websocket: server.wsUrl, bosh: false },
  });
  const started = new Promise<void>((ok, fail) => {
    agent.once('session:started', () => ok());
    agent.once('auth:failed', () => fail(new Error(`stanza: authentication failed for ${account.username}`)));
    agent.once('disconnected', () => fail(new Error(`stanza: disconnected before the session started (${account.username})`)));
  });
  agent.connect();
  try {
    await withTimeout(started, ms, `stanza login of ${account.username}@${server.domain}`);
  } catch (e) {
    agent.disconnect();
    throw e;
  }
  return agent;
}

/** The next event `name` from a stanza agent whose payload matches `pred`. */
export function nextStanzaEvent<T>(agent: Stanza.Agent, name: string, pred: (v: T) => boolean = () => true, ms = 10_000): Promise<T> {
  return withTimeout(
    new Promise<T>((ok) => {
      const on = (v: T): void => {
        if (!pred(v)) return;
        (agent as unknown as { off(n: string, f: (v: T) => void): void }).off(name, on);
        ok(v);
      };
      (agent as unknown as { on(n: string, f: (v: T) => void): void }).on(name, on);
    }),
    ms,
    `stanza event ${name}`,
  );
}

const COMMANDS = 'http://jabber.org/protocol/commands';
const ADMIN = 'http://jabber.org/protocol/admin';

/** Creates an account through XEP-0133 "Add User" as a server admin. */
export async function addUserAsAdmin(
  server: { host: string; port: number; domain: string; admin: { jid: string; password: string } },
  jid: string,
  password: string,
): Promise<void> {
  const s = await connectTcp(server, { username: server.admin.jid.split('@')[0]!, password: server.admin.password });
  try {
    const node = `${ADMIN}#add-user`;
    const first = await s.xmpp.iqCaller.set(xml('command', { xmlns: COMMANDS, node, action: 'execute' }), server.domain);
    const sessionid = first.getAttr('sessionid') as string | undefined;
    const field = (v: string, value: string) => xml('field', { var: v }, xml('value', {}, value));
    const form = xml(
      'x',
      { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, ADMIN)),
      field('accountjid', jid),
      field('password', password),
      field('password-verify', password),
    );
    const done = await s.xmpp.iqCaller.set(xml('command', { xmlns: COMMANDS, node, sessionid, action: 'complete' }, form), server.domain);
    const status = done.getAttr('status');
    if (status !== 'completed') throw new Error(`XEP-0133 add-user for ${jid} ended with status ${String(status)}`);
  } finally {
    await s.stop();
  }
}
