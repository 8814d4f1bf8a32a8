import { loadConfig, type Config } from '../config.js';
import { MemoryStore } from '../storage/memory/index.js';
import type { WideColumnStore } from '../storage/wide-column.js';
import { parseJid } from '../util/jid.js';
import { createLogger } from '../util/log.js';
import type { OptionSpecs } from '../util/options.js';
import type { XmlElement } from '../util/xml.js';
import type { ModuleDefinition, PreBindStream } from '../xmpp/module.js';
import type { ClientSession } from '../xmpp/session.js';
import type { Locator } from '../xmpp/router/router.js';
import { Server } from '../xmpp/server.js';
import { C2sSession, type SessionConnection } from '../xmpp/stream/client-session.js';
import { processClientElement } from '../xmpp/stream/inbound.js';
import { StreamError, type StreamErrorCondition } from '../xmpp/errors.js';
import { parseXml } from '../xmpp/stream/parse-xml.js';

/**
 * An in-process server for module tests: real core, real router, memory
 * store, and clients that are bound sessions whose output is captured.
 * Stanzas from a test client go through the same inbound path as a socket's.
 */
export class TestServer<S extends WideColumnStore = MemoryStore> {
  private constructor(
    readonly server: Server,
    readonly store: S,
  ) {}

  /**
   * `store`: pass the store of a stopped TestServer to stand for a restart (or another backend, for benchmarks).
   * `locator`: a cluster locator (in-process cluster nodes sharing a store).
   */
  static async start<S extends WideColumnStore = MemoryStore>(modules: readonly ModuleDefinition<OptionSpecs>[], overrides: Record<string, unknown> = {}, store: S = new MemoryStore() as unknown as S, locator?: (server: Server) => Locator): Promise<TestServer<S>> {
    const config: Config = loadConfig({ env: {}, overrides: { storage: { backend: 'memory' }, ...overrides } });
    const log = createLogger('test');
    const server = new Server({ config, store, modules, log, locator });
    await server.start();
    return new TestServer<S>(server, store);
  }

  async addUser(bare: string, password = 'secret'): Promise<void> {
    await this.server.accounts.create(parseJid(bare), password);
  }

  /** Binds a session for `full` (account created if missing), as if it had logged in. */
  login(full: string, opts: { password?: string } = {}): Promise<TestClient> {
    return loginOn(this.server, full, opts);
  }

  /** A connection authenticated as `bare` but not bound yet (for XEP-0198 resumption); bind happens through `preBind`. */
  async authenticated(bare: string): Promise<TestClient> {
    const jid = parseJid(bare);
    await this.server.accounts.create(jid.toBare(), 'secret');
    const client = new TestClient(this.server);
    client.username = jid.local ?? '';
    client.host = jid.domain;
    return client;
  }

  async stop(): Promise<void> {
    for (const s of [...this.server.sessions.all()]) s.close();
    await this.server.stop();
  }
}

export class TestClient implements SessionConnection, PreBindStream {
  readonly transportKind = 'tcp' as const;
  readonly secure = true;
  readonly remoteAddress = '127.0.0.1';
  session!: C2sSession;
  /** Set by TestServer.authenticated() for a connection that has not bound. */
  username = '';
  host = '';
  /** Everything written to this client, in order. */
  readonly received: XmlElement[] = [];
  closedWith: StreamErrorCondition | null | undefined = undefined;
  private waiters: { pred: (el: XmlElement) => boolean; resolve: (el: XmlElement) => void }[] = [];
  private nextId = 0;

  constructor(private readonly server: Server) {}

  get jid(): string {
    return this.session.jid.full;
  }

  writeElement(el: XmlElement): void {
    // Serialise and re-parse, so tests see what a real client would.
    const copy = parseXml(el.toString());
    this.received.push(copy);
    const i = this.waiters.findIndex((w) => w.pred(copy));
    if (i !== -1) this.waiters.splice(i, 1)[0]!.resolve(copy);
  }

  closeWithError(condition?: StreamErrorCondition): void {
    this.closedWith = condition ?? null;
    void this.session?.connectionClosed(this, condition ?? null);
  }

  sendRaw(el: XmlElement): void {
    this.writeElement(el);
  }

  adoptSession(session: ClientSession): void {
    const s = session as C2sSession;
    s.attach(this);
    this.session = s;
  }

  bindHandedOver(resource: string): ClientSession {
    const jid = parseJid(`${this.username}@${this.host}`).withResource(resource);
    this.session = new C2sSession(this.server, jid, this);
    this.server.sessions.add(this.session);
    return this.session;
  }

  close(condition?: StreamErrorCondition): void {
    this.closeWithError(condition);
  }

  /** Sends a top-level element on a connection that is authenticated but not bound (`<resume/>`, `<enable/>`). */
  async preBind(element: string | XmlElement): Promise<void> {
    const el = typeof element === 'string' ? parseXml(element) : element;
    const handler = el.attrs.xmlns !== undefined ? this.server.registrations.preBindElements.get(el.attrs.xmlns) : undefined;
    try {
      if (handler === undefined) throw new StreamError('not-authorized', 'bind a resource first');
      await handler(el, this);
    } catch (e) {
      if (e instanceof StreamError) this.closeWithError(e.condition);
      else throw e;
    }
  }

  /** Sends a stanza as the client would; resolves once the server has processed it. */
  async send(stanza: string | XmlElement): Promise<void> {
    const el = typeof stanza === 'string' ? parseXml(stanza) : stanza;
    el.attrs.xmlns ??= 'jabber:client';
    try {
      await processClientElement(this.server, this.session, el);
    } catch (e) {
      if (e instanceof StreamError) this.closeWithError(e.condition);
      else throw e;
    }
  }

  /** Sends an iq get/set and resolves with the reply. */
  async iq(stanza: string | XmlElement): Promise<XmlElement> {
    const el = typeof stanza === 'string' ? parseXml(stanza) : stanza;
    const id = (el.attrs.id ??= `t${this.nextId++}`);
    const reply = this.waitFor((r) => r.name === 'iq' && r.attrs.id === id && (r.attrs.type === 'result' || r.attrs.type === 'error'));
    await this.send(el);
    return reply;
  }

  /** Resolves with the first stanza (already received or future) matching pred. */
  waitFor(pred: (el: XmlElement) => boolean, timeoutMs = 2000): Promise<XmlElement> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i === -1) return;
        this.waiters.splice(i, 1);
        reject(new Error(`${this.jid}: no matching stanza within ${timeoutMs} ms; received:\n${this.received.map((r) => r.toString()).join('\n')}`));
      }, timeoutMs);
    });
  }

  /** Stanzas received so far that match. */
  all(pred: (el: XmlElement) => boolean): XmlElement[] {
    return this.received.filter(pred);
  }

  clear(): void {
    this.received.length = 0;
  }

  /** Breaks the connection without a stream close (network loss). */
  async drop(): Promise<void> {
    await this.session.connectionLost(this, 'test drop');
  }
}

/** A bound session for `full` on `server`, driven in-process: the account is created, a session already bound there is replaced. */
export async function loginOn(server: Server, full: string, opts: { password?: string } = {}): Promise<TestClient> {
  const jid = parseJid(full);
  await server.accounts.create(jid.toBare(), opts.password ?? 'secret');
  const existing = server.sessions.get(jid.full);
  if (existing) existing.close('conflict');
  const client = new TestClient(server);
  const session = new C2sSession(server, jid, client);
  client.session = session;
  server.sessions.add(session);
  await server.hooks.fireAsync('session/bound', { session });
  return client;
}
