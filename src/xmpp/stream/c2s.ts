import { performance } from 'node:perf_hooks';
import { JidError, normaliseResource, parseJid, tryParseJid, type Jid } from '../../util/jid.js';
import { serialize, x, type Attrs, type XmlElement } from '../../util/xml.js';
import { StanzaError, StreamError, errorReply, type StreamErrorCondition } from '../errors.js';
import type { PreAuthStream } from '../module.js';
import type { Server } from '../server.js';
import type { ClientSession } from '../session.js';
import type { Transport, TransportKind } from '../transport/transport.js';
import { ParseError, XmppParser, type ParserEvents, type ParserLimits } from './parser.js';
import { C2sOutput } from './c2s-output.js';
import { C2sSession, type SessionConnection } from './client-session.js';
import { NS_SASL2, SaslNegotiation } from './sasl-negotiation.js';
import { inlineAnswers, type Sasl2Connection } from './sasl2-inline.js';
import { clientStreamFeatures, NS_BIND } from './stream-features.js';
import { processClientElement } from './inbound.js';
import { randomHex } from '../../util/random-token.js';
import { NS_CLIENT, NS_FRAMING, NS_SASL, NS_STREAM, NS_TLS } from '../rfc6120-namespaces.js';

/**
 * Stanzas read ahead of the one being handled before reading stops: behind a slow handler (a stalled store, a
 * flood of archive queries) the rest of a client's input waits in its socket, not in memory. Reading resumes at half.
 */
const QUEUE_HIGH = 256;

/** One limits object per c2s configuration, shared by its connections. */
const sharedLimits = new WeakMap<object, ParserLimits>();
function parserLimits(c: ParserLimits): ParserLimits {
  let limits = sharedLimits.get(c);
  if (limits === undefined) {
    limits = { maxStanzaSize: c.maxStanzaSize, maxDepth: c.maxDepth, maxAttributes: c.maxAttributes };
    sharedLimits.set(c, limits);
  }
  return limits;
}

const enum State {
  AwaitHeader,
  Negotiating,
  Bound,
  Closed,
}

/**
 * One client connection: stream headers, features, STARTTLS, SASL, resource
 * binding, then stanzas in order into the router. The same code runs over TCP,
 * WebSocket and BOSH; only framing differs. With SASL2 (XEP-0388) binding or
 * resumption happens inside authentication, with no stream restart
 * (sasl2Succeeded, sasl2-inline.ts; the SASL exchange itself is
 * sasl-negotiation.ts). What it writes is framed by c2s-output.ts.
 */
export class C2sConnection implements SessionConnection, Sasl2Connection, PreAuthStream, ParserEvents {
  private state = State.AwaitHeader;
  /** The client closed its stream while earlier stanzas were still being handled: closing waits for them. */
  private endRequested = false;
  private readonly parser: XmppParser;
  private readonly output: C2sOutput;
  private streamId = '';
  host = '';
  username = '';
  private authenticated = false;
  private readonly sasl: SaslNegotiation;
  session: C2sSession | null = null;
  private queue: XmlElement[] = [];
  /** Reading is paused by the rate limit, or because QUEUE_HIGH stanzas wait; it resumes when neither holds. */
  private rateWait = false;
  private queueFull = false;
  private draining = false;
  private authTimer: NodeJS.Timeout | null;
  private tokens: number;
  private lastRefill = Date.now();
  /** When the client connected, for the login time (sori_login_seconds). */
  private readonly connectedAt = performance.now();

  constructor(
    private readonly server: Server,
    private readonly transport: Transport,
  ) {
    const c = server.config.c2s;
    // The connection is the parser's events object, and the limits are shared: an idle connection keeps
    // neither an object of three bound functions nor its own copy of the limits.
    this.parser = new XmppParser(this, parserLimits(c), transport.framed);
    this.output = new C2sOutput(transport);
    this.sasl = new SaslNegotiation(server, this);
    this.tokens = c.rateBytesPerSecond;
    this.authTimer = setTimeout(() => this.closeWithError('connection-timeout', 'authentication took too long'), c.authTimeoutSeconds * 1000);
    this.authTimer.unref();
    transport.start(
      (chunk) => this.onData(chunk),
      () => this.onTransportClosed(),
    );
  }

  get transportKind(): TransportKind {
    return this.transport.kind;
  }
  get secure(): boolean {
    return this.transport.secure;
  }
  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }
  get channel(): Transport {
    return this.transport;
  }

  private onData(chunk: Buffer | string): void {
    if (this.state === State.Closed) return;
    this.session?.touch();
    this.rateLimit(chunk.length);
    try {
      if (typeof chunk === 'string') {
        this.parser.write(chunk);
        // Left open, it would wait for the rest of an element that never comes, with no answer until the auth timeout.
        if (!this.parser.frameComplete()) throw new ParseError('not-well-formed', 'a WebSocket message must hold one complete XML element (RFC 7395 §3.3.3)');
      } else this.parser.writeBytes(chunk);
    } catch (e) {
      if (e instanceof ParseError) this.closeWithError(e.condition, e.message);
      else if (e instanceof StreamError) this.closeWithError(e.condition, e.text, e.content);
      else {
        this.server.log.error('c2s input failed', e);
        this.closeWithError('internal-server-error');
      }
    }
  }

  /** Token bucket on input bytes: past the rate, stop reading until the bucket refills. */
  private rateLimit(bytes: number): void {
    const rate = this.server.config.c2s.rateBytesPerSecond;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    this.tokens -= bytes;
    if (this.tokens < 0) {
      this.rateWait = true;
      this.transport.pause();
      setTimeout(() => {
        this.rateWait = false;
        if (!this.queueFull) this.transport.resume();
      }, Math.ceil((-this.tokens * 1000) / rate)).unref();
    }
  }

  /** The parser read a stream header (or, framed, an `<open/>`). */
  onStreamStart(name: string, attrs: Attrs): void {
    if (name !== 'stream:stream' || attrs['xmlns:stream'] !== NS_STREAM) throw new StreamError('invalid-namespace', 'expected stream:stream in http://etherx.jabber.org/streams');
    if (attrs.xmlns !== NS_CLIENT) throw new StreamError('invalid-namespace', 'default namespace must be jabber:client');
    this.openStream(attrs);
  }

  private openStream(attrs: Attrs): void {
    const to = attrs.to;
    let domain: string | undefined;
    try {
      domain = to === undefined ? this.server.hosts[0] : parseJid(to).domain;
    } catch {
      domain = undefined;
    }
    this.host = this.host || (domain ?? this.server.hosts[0]!);
    this.streamId = randomHex(12);
    this.writeHeader(attrs.from);
    if (domain === undefined || !this.server.isLocalDomain(domain)) throw new StreamError('host-unknown', `this server does not serve ${to}`);
    if (this.authenticated && domain !== this.host) throw new StreamError('host-unknown', 'domain changed after authentication');
    if (!this.authenticated && this.server.newStreamRefusal !== null) throw this.server.newStreamRefusal;
    const version = attrs.version;
    if (version === undefined || !/^1\.\d+$/.test(version)) throw new StreamError('unsupported-version', 'XMPP 1.0 is required');
    this.state = State.Negotiating;
    this.output.streamLevel(this.features());
  }

  private writeHeader(clientFrom: string | undefined): void {
    this.output.header({ id: this.streamId, from: this.host, to: clientFrom && tryParseJid(clientFrom) ? clientFrom : undefined, version: '1.0', 'xml:lang': 'en' });
  }

  private features(): XmlElement {
    return clientStreamFeatures(this.server, this.transport, { host: this.host, authenticated: this.authenticated, tlsRequired: !this.authenticated && this.tlsRequired() }, () => this.sasl.features());
  }

  /** TLS is mandatory before authentication on plain TCP unless configured otherwise. */
  tlsRequired(): boolean {
    return this.transport.kind === 'tcp' && !this.transport.secure && this.server.config.c2s.requireEncryption;
  }

  /** The parser read a stanza or nonza. */
  onStanza(el: XmlElement): void {
    if (this.transport.framed && el.attrs.xmlns === NS_FRAMING) {
      // A stream opens at the start, after STARTTLS and after SASL (RFC 6120 §4.3.3, RFC 7395 §3.3.2), never mid-stream:
      // reopening a bound stream would bind a second resource and orphan the first session.
      if (el.name === 'open') {
        if (this.state !== State.AwaitHeader) throw new StreamError('invalid-xml', 'the stream is open already');
        return this.openStream(el.attrs);
      }
      if (el.name === 'close') return this.onStreamEnd();
    }
    if (this.state === State.AwaitHeader) throw new StreamError(this.transport.framed ? 'invalid-xml' : 'not-well-formed', 'stream not opened');
    if (this.queue.push(el) === QUEUE_HIGH) {
      this.queueFull = true;
      this.transport.pause();
    }
    if (!this.draining) void this.drain();
  }

  /** Stanzas are handled strictly in arrival order, even when handling is asynchronous. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0 && this.state !== State.Closed) {
        const el = this.queue.shift()!;
        if (this.queueFull && this.queue.length <= QUEUE_HIGH / 2) {
          this.queueFull = false;
          if (!this.rateWait) this.transport.resume();
        }
        try {
          const r = this.state === State.Bound ? this.onBoundElement(el) : this.onNegotiationElement(el);
          if (r !== undefined) await r;
        } catch (e) {
          if (e instanceof StreamError) this.closeWithError(e.condition, e.text, e.content);
          else {
            this.server.log.error(`c2s handling failed: ${el.toString().slice(0, 200)}`, e);
            // §8.3.1, §8.2.3: never an error in answer to an error, nor to an iq result.
            const answerable = el.attrs.type !== 'error' && !(el.name === 'iq' && el.attrs.type === 'result');
            if (answerable && (el.name === 'iq' || el.name === 'message' || el.name === 'presence')) {
              const reply = errorReply(el, new StanzaError('internal-server-error'));
              // Through the session when bound, so that stream management counts it.
              if (this.session !== null) this.session.send(reply);
              else this.writeElement(reply);
            }
          }
        }
      }
    } finally {
      this.draining = false;
      // An emptied array keeps its grown backing store; an idle connection need not.
      if (this.queue.length === 0) this.queue = [];
    }
    if (this.endRequested && this.queue.length === 0) this.onStreamEnd();
  }

  private onNegotiationElement(el: XmlElement): Promise<void> | void {
    const ns = el.attrs.xmlns;
    if (ns === NS_TLS && el.name === 'starttls') return this.startTls();
    if (ns === NS_SASL || ns === NS_SASL2) {
      if (this.authenticated) throw new StreamError('policy-violation', 'already authenticated');
      return this.sasl.handle(el);
    }
    if (!this.authenticated) {
      // Pre-auth iqs (XEP-0077 registration) are answered by modules that opt in.
      const payloadNs = el.name === 'iq' && ns === NS_CLIENT ? el.elements()[0]?.attrs.xmlns : undefined;
      const preAuth = payloadNs !== undefined ? this.server.registrations.preAuthIqs.get(payloadNs) : undefined;
      if (preAuth !== undefined) return preAuth(el, this);
      throw new StreamError('not-authorized', 'authenticate first');
    }
    if (el.name === 'iq' && ns === NS_CLIENT && el.attrs.type === 'set' && el.getChild('bind', NS_BIND)) return this.bind(el);
    const preBind = ns !== undefined ? this.server.registrations.preBindElements.get(ns) : undefined;
    if (preBind !== undefined) return preBind(el, this);
    throw new StreamError('not-authorized', 'bind a resource first');
  }

  private async startTls(): Promise<void> {
    if (!this.transport.canStartTls || this.transport.secure || this.authenticated) {
      this.transport.write(serialize(x('failure', { xmlns: NS_TLS })));
      this.finishTransport();
      return;
    }
    this.transport.write(serialize(x('proceed', { xmlns: NS_TLS })));
    this.parser.reset();
    this.state = State.AwaitHeader;
    try {
      await this.transport.startTls();
    } catch (e) {
      this.server.log.debug(`STARTTLS failed from ${this.remoteAddress}: ${(e as Error).message}`);
      this.state = State.Closed;
      this.transport.destroy();
    }
  }

  /** Called by SASL on success: the client restarts the stream (RFC 6120 §6.4.6). */
  authSucceeded(username: string): void {
    this.username = username;
    this.authenticated = true;
    this.parser.reset();
    this.state = State.AwaitHeader;
  }

  private async bind(iq: XmlElement): Promise<void> {
    const requested = iq.getChild('bind', NS_BIND)!.getChildText('resource')?.trim() ?? '';
    let resource: string;
    try {
      resource = requested === '' ? randomHex(6) : normaliseResource(requested);
      if (resource === '') throw new JidError('empty');
    } catch {
      this.writeElement(errorReply(iq, new StanzaError('bad-request', 'invalid resource')));
      return;
    }
    const session = this.bindResource(resource);
    this.writeElement(x('iq', { type: 'result', id: iq.attrs.id }, x('bind', { xmlns: NS_BIND }, x('jid', null, session.jid.full))));
    await this.server.hooks.fireAsync('session/bound', { session });
  }

  /** RFC 6120 §7.7.2.2: the new session wins; the old one is told why it ends. */
  private bindResource(resource: string): C2sSession {
    const jid: Jid = parseJid(`${this.username}@${this.host}`).withResource(resource);
    this.server.sessions.get(jid.full)?.close('conflict', 'replaced by a new connection with the same resource');
    const session = new C2sSession(this.server, jid, this);
    this.session = session;
    this.server.sessions.add(session);
    this.state = State.Bound;
    this.stopAuthTimer();
    this.server.counters.loginSeconds.observe((performance.now() - this.connectedAt) / 1000);
    return session;
  }

  bindHandedOver(resource: string): ClientSession {
    return this.bindResource(resource);
  }

  adoptSession(session: ClientSession): void {
    const s = session as C2sSession;
    s.attach(this);
    this.session = s;
    this.state = State.Bound;
    this.stopAuthTimer();
  }

  /** Cleared and dropped: a cleared timer kept in a field still holds its Timeout and closure for the connection's life. */
  private stopAuthTimer(): void {
    if (this.authTimer === null) return;
    clearTimeout(this.authTimer);
    this.authTimer = null;
  }

  private onBoundElement(el: XmlElement): Promise<void> | void {
    return processClientElement(this.server, this.session!, el);
  }

  writeElement(el: XmlElement): void {
    if (this.state !== State.Closed) this.output.element(el);
  }

  /**
   * XEP-0388 §2.6.3: authenticated, without a stream restart. The inline
   * requests' answers (sasl2-inline.ts) go inside `<success/>`, and whatever
   * they send to the client meanwhile (resent stanzas) is held back to follow
   * it. A client that bound nothing gets the post-authentication features.
   */
  async sasl2Succeeded(username: string, additionalData: Buffer | undefined, request: XmlElement): Promise<void> {
    this.username = username;
    this.authenticated = true;
    this.output.hold();
    let answers: XmlElement[] | null;
    try {
      answers = await inlineAnswers(this.server, this, this.sasl, username, request);
    } catch (e) {
      this.output.release();
      this.session?.releaseStanzas();
      if (e instanceof StreamError) throw e;
      // Authenticated, perhaps bound: a SASL <failure/> would tell the client the stream is as it was, so it ends instead.
      this.server.log.error(`SASL2 inline requests of ${username} failed`, e);
      throw new StreamError('internal-server-error');
    }
    if (answers === null) return;
    const aid = this.session?.jid.full ?? `${username}@${this.host}`;
    const success = x('success', { xmlns: NS_SASL2 }, additionalData === undefined ? null : x('additional-data', null, additionalData.toString('base64')), x('authorization-identifier', null, aid), ...answers);
    this.output.release(serialize(success));
    this.session?.releaseStanzas();
    if (this.session === null) this.output.streamLevel(this.features());
  }

  sendRaw(el: XmlElement): void {
    this.writeElement(el);
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    this.closeWithError(condition, text);
  }

  closeWithError(condition?: StreamErrorCondition, text?: string, content?: string): void {
    if (this.state === State.Closed) return;
    // Closing in the middle of a SASL2 success: what was kept back goes out before the error.
    if (this.output.holding) this.output.release();
    if (!this.output.headerSent) {
      this.streamId = randomHex(12);
      this.host = this.host || this.server.hosts[0]!;
      this.writeHeader(undefined);
    }
    if (condition !== undefined) {
      this.server.counters.streamErrors.inc(condition);
      this.output.streamLevel(new StreamError(condition, text, content).toElement());
    }
    this.finishTransport();
    void this.session?.connectionClosed(this, condition ?? null);
  }

  private finishTransport(): void {
    this.state = State.Closed;
    this.stopAuthTimer();
    this.output.end();
  }

  /** The client closed its stream. */
  onStreamEnd(): void {
    if (this.state === State.Closed) return;
    // RFC 6120 §4.4: what the client sent before its closing tag is handled first.
    if (this.draining || this.queue.length > 0) {
      this.endRequested = true;
      return;
    }
    this.finishTransport();
    void this.session?.connectionClosed(this, null);
  }

  private onTransportClosed(): void {
    const wasOpen = this.state !== State.Closed;
    this.state = State.Closed;
    this.stopAuthTimer();
    const session = this.session;
    if (session === null) return;
    if (wasOpen) void session.connectionLost(this, 'connection lost');
    else session.detach(this);
  }
}
