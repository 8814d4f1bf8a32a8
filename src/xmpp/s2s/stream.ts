import type { Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from '../../util/log.js';
import { openTag, serialize, XmlElement, type Attrs } from '../../util/xml.js';
import { StreamError, type StreamErrorCondition } from '../errors.js';
import { ParseError, XmppParser, type ParserLimits } from '../stream/parser.js';
import { NS_DIALBACK } from './dialback.js';
import { randomHex } from '../../util/random-token.js';
import { NS_CLIENT, NS_SERVER, NS_STREAM } from '../rfc6120-namespaces.js';


/**
 * Elements read but not yet handled beyond which reading pauses (TCP then
 * holds the peer back): a peer that sends faster than its stanzas are routed
 * (a slow store, a flood) does not fill memory. Reading resumes at half.
 */
const MAX_PENDING_ELEMENTS = 200;

export function newStreamId(): string {
  return randomHex(12);
}

/** A stanza as written on an s2s stream: the router keeps jabber:client stanzas; the stream default is jabber:server. */
export function toServerNs(stanza: XmlElement): XmlElement {
  const ns = stanza.attrs.xmlns;
  if (ns !== NS_CLIENT && ns !== NS_SERVER) return stanza;
  return new XmlElement(stanza.name, { ...stanza.attrs, xmlns: undefined }, stanza.children);
}

/**
 * The bytes and XML under one s2s stream, either direction: a socket that can
 * turn into TLS in place, a parser with the configured limits, stream headers,
 * and an element queue handled strictly in order (handlers may be async, as
 * routing is). Subclasses implement the negotiation.
 */
export abstract class S2sStream {
  protected socket: Socket | TLSSocket;
  protected readonly parser: XmppParser;
  /** Our side is closed: nothing more is written (RFC 6120 §4.4), though what the peer still sends may be handled. */
  protected closed = false;
  /** Nothing more is read: the peer closed its stream, or one of us ended it with a stream error. */
  private inputEnded = false;
  /** In arrival order; null is the peer's closing tag, acted on only after everything it sent before it. */
  private readonly queue: (XmlElement | null)[] = [];
  private draining = false;
  private readPaused = false;
  private idleTimer: NodeJS.Timeout | null = null;
  // Bound rather than arrows: see the parser callbacks in c2s.ts.
  private readonly onData = this.feed.bind(this);
  private readonly onClose = this.transportClosed.bind(this);

  constructor(
    socket: Socket | TLSSocket,
    limits: ParserLimits,
    protected readonly log: Logger,
    private readonly idleMs: number,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.parser = new XmppParser(
      {
        onStreamStart: (name, attrs) => {
          if (name !== 'stream:stream' || attrs['xmlns:stream'] !== NS_STREAM) throw new StreamError('invalid-namespace', 'expected stream:stream in http://etherx.jabber.org/streams');
          if (attrs.xmlns !== NS_SERVER) throw new StreamError('invalid-namespace', 'default namespace must be jabber:server');
          this.onHeader(attrs);
        },
        onStanza: (el) => this.enqueue(el),
        onStreamEnd: () => this.peerClosing(),
      },
      limits,
    );
    this.attach(socket);
    this.touch();
  }

  get secure(): boolean {
    return this.socket instanceof TLSSocket;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? 'unknown';
  }

  protected abstract onHeader(attrs: Attrs): void;
  protected abstract onElement(el: XmlElement): Promise<void> | void;
  /** The transport is gone (after close() or from the network). Called once; `abrupt`: the connection went with no closing tag from either side. */
  protected abstract onClosed(abrupt: boolean): void;

  private attach(s: Socket): void {
    s.on('data', this.onData);
    s.once('close', this.onClose);
    s.on('error', (e: Error) => this.log.debug(`s2s socket ${this.remoteAddress}: ${e.message}`));
  }

  private detach(s: Socket): void {
    s.removeListener('data', this.onData);
    s.removeListener('close', this.onClose);
  }

  private feed(chunk: Buffer): void {
    if (this.inputEnded) return;
    if (!this.closed) this.touch();
    try {
      this.parser.writeBytes(chunk);
    } catch (e) {
      if (e instanceof ParseError) this.close(e.condition, e.message);
      else if (e instanceof StreamError) this.close(e.condition, e.text);
      else {
        this.log.error('s2s input failed', e);
        this.close('internal-server-error');
      }
    }
  }

  private enqueue(el: XmlElement | null): void {
    this.queue.push(el);
    if (this.queue.length >= MAX_PENDING_ELEMENTS && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const el = this.queue.shift()!;
        if (this.readPaused && this.queue.length <= MAX_PENDING_ELEMENTS / 2) {
          this.readPaused = false;
          this.socket.resume();
        }
        if (el === null) {
          this.peerClosed();
          continue;
        }
        try {
          const r = this.onElement(el);
          if (r !== undefined) await r;
        } catch (e) {
          if (e instanceof StreamError) this.close(e.condition, e.text);
          else {
            this.log.error(`s2s handling failed: ${el.toString().slice(0, 200)}`, e);
            this.close('internal-server-error');
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Restarts the stream: the next bytes start a new XML document (RFC 6120 §4.3.3). */
  protected restart(): void {
    this.parser.reset();
  }

  protected writeHeader(attrs: { from?: string; to?: string; id?: string }): void {
    this.write(`<?xml version='1.0'?>` + openTag('stream:stream', { xmlns: NS_SERVER, 'xmlns:stream': NS_STREAM, 'xmlns:db': NS_DIALBACK, from: attrs.from, to: attrs.to, id: attrs.id, version: '1.0' }));
  }

  protected write(data: string): void {
    if (this.closed) return;
    this.touch();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  protected writeElement(el: XmlElement): void {
    this.write(serialize(el));
  }

  /** Upgrades to TLS as the receiving server, asking for the peer's certificate. */
  protected upgradeServer(context: SecureContext): Promise<TLSSocket> {
    const raw = this.socket;
    this.detach(raw);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['xmpp-server'] });
    return this.switchTo(secure, 'secure');
  }

  /** Upgrades to TLS as the initiating server, presenting our certificate as client certificate. */
  protected upgradeClient(context: SecureContext, servername: string): Promise<TLSSocket> {
    const raw = this.socket;
    this.detach(raw);
    const secure = tlsConnect({ socket: raw, secureContext: context, servername, rejectUnauthorized: false, ALPNProtocols: ['xmpp-server'] });
    return this.switchTo(secure, 'secureConnect');
  }

  private switchTo(secure: TLSSocket, readyEvent: 'secure' | 'secureConnect'): Promise<TLSSocket> {
    this.socket = secure;
    this.parser.reset();
    this.attach(secure);
    return new Promise((resolve, reject) => {
      secure.once(readyEvent, () => resolve(secure));
      secure.once('error', reject);
      secure.once('close', () => reject(new Error('closed during the TLS handshake')));
    });
  }

  protected touch(): void {
    if (this.idleTimer !== null) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.idle(), this.idleMs);
      this.idleTimer.unref();
    }
  }

  /** No traffic for the idle timeout: close gracefully (RFC 6120 §4.4). */
  protected idle(): void {
    this.log.debug(`s2s stream with ${this.remoteAddress} idle, closing`);
    this.close();
  }

  /** The peer's closing tag: it sends nothing more, but what came before it is still to be handled. */
  private peerClosing(): void {
    this.inputEnded = true;
    this.enqueue(null);
  }

  /** Everything the peer sent is handled: close our side too, or, when we closed first, the connection. */
  private peerClosed(): void {
    if (this.closed) this.endInput();
    else this.close();
  }

  /** Stops reading and ends the connection; after a stream error, what is still queued is dropped unhandled. */
  private endInput(discardQueued = false): void {
    this.inputEnded = true;
    if (discardQueued) this.queue.length = 0;
    this.socket.end();
  }

  /** A receiving entity answers even a broken stream with a header first (RFC 6120 §4.9.1.1). */
  protected ensureHeader(): void {}

  /** Whether the peer may send stanzas on this stream: then closing it gracefully waits for the peer's closing tag. */
  protected carriesStanzas(): boolean {
    return false;
  }

  /**
   * Ends the stream, with a stream error when a condition is given. Without
   * one, on a stream that carries stanzas, RFC 6120 §4.4: the peer may have
   * some on the way, sent before it saw our closing tag; they are still
   * handled until its own closing tag (or for 5 s), not dropped with no error
   * to their senders.
   */
  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.closed) {
      // Closing gracefully, and what the peer still sent is broken: stop waiting for it.
      if (condition !== undefined) this.endInput(true);
      return;
    }
    if (condition !== undefined) {
      this.ensureHeader();
      this.writeElement(new StreamError(condition, text).toElement());
    }
    this.write('</stream:stream>');
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const s = this.socket;
    const waitForPeer = condition === undefined && !this.inputEnded && this.carriesStanzas();
    if (!waitForPeer) this.endInput(condition !== undefined);
    setTimeout(() => s.destroy(), 5000).unref();
    this.onClosed(false);
  }

  /** The connection is gone; stanzas that arrived before are still handled. */
  private transportClosed(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.inputEnded = true;
    if (this.closed) return;
    this.closed = true;
    this.onClosed(true);
  }
}
