import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { tryParseJid } from '../../../util/jid.js';
import type { Logger } from '../../../util/log.js';
import { randomHex } from '../../../util/random-token.js';
import { openTag, serialize, XmlElement, type Attrs } from '../../../util/xml.js';
import { StreamError } from '../../errors.js';
import { ParseError, XmppParser, type ParserLimits } from '../../stream/parser.js';
import { NS_CLIENT, NS_STREAM } from '../../rfc6120-namespaces.js';

export const NS_COMPONENT = 'jabber:component:accept';
const STANZAS = new Set(['message', 'presence', 'iq']);


/** How long a closed stream's socket may take to finish before it is cut. */
const CLOSE_GRACE_MS = 5000;
/** What a component connection needs from the module that accepted it. */
export interface ComponentHost {
  /** The shared secret of a configured component domain, or undefined. */
  secretOf(domain: string): string | undefined;
  /** Claims `domain` for this connection once it has authenticated; false when another connection (in a cluster: on any node) holds it. */
  attach(domain: string, connection: ComponentConnection): Promise<boolean>;
  detach(domain: string, connection: ComponentConnection): void;
  /** Routes a stanza the component sent (its `from` already checked). */
  route(stanza: XmlElement): Promise<void>;
}

/** The XEP-0114 handshake value: hex SHA-1 of the stream id followed by the secret. */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash('sha1').update(streamId + secret, 'utf8').digest('hex');
}

/**
 * One external component's stream (XEP-0114): the component opens a
 * `jabber:component:accept` stream to its domain, proves the shared secret
 * with `<handshake/>`, and from then on sends and receives stanzas for that
 * domain. It may only send from its own domain (or a JID in it); anything
 * else ends the stream with invalid-from, as RFC 6120 §4.9.3.9 says.
 */
export class ComponentConnection {
  private readonly parser: XmppParser;
  private readonly streamId = randomHex(12);
  private domain: string | null = null;
  private authenticated = false;
  /** The domain is held for this connection (set once `attach` said so). */
  private attached = false;
  private closed = false;
  /** Stanzas are routed in the order the component sent them. */
  private routing: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: Socket,
    private readonly host: ComponentHost,
    limits: ParserLimits,
    private readonly log: Logger,
    handshakeTimeoutMs: number,
  ) {
    socket.setNoDelay(true);
    this.parser = new XmppParser({ onStreamStart: (name, attrs) => this.onHeader(name, attrs), onStanza: (el) => this.onElement(el), onStreamEnd: () => this.close() }, limits);
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('error', (e: Error) => this.log.debug(`component ${this.domain ?? socket.remoteAddress}: ${e.message}`));
    socket.once('close', () => this.transportClosed());
    // A peer that never completes the handshake does not keep its socket.
    const handshakeTimer = setTimeout(() => this.authenticated || this.close(new StreamError('connection-timeout', 'no handshake in time')), handshakeTimeoutMs);
    handshakeTimer.unref();
    socket.once('close', () => clearTimeout(handshakeTimer));
  }

  /** Writes a stanza for the component's domain, in the component namespace. */
  deliver(stanza: XmlElement): void {
    const ns = stanza.attrs.xmlns;
    this.write(serialize(ns === NS_CLIENT || ns === 'jabber:server' ? new XmlElement(stanza.name, { ...stanza.attrs, xmlns: undefined }, stanza.children) : stanza));
  }

  /** Ends the stream, with a stream error when given. */
  close(error?: StreamError): void {
    if (this.closed) return;
    if (error !== undefined) {
      if (this.domain === null) this.write(`<?xml version='1.0'?>${openTag('stream:stream', { xmlns: NS_COMPONENT, 'xmlns:stream': NS_STREAM, id: this.streamId })}`);
      this.write(serialize(error.toElement()));
      this.log.info(`component ${this.domain ?? this.socket.remoteAddress}: closing with ${error.message}`);
    }
    this.write('</stream:stream>');
    this.closed = true;
    // The domain is free again now, not when the peer gets round to closing its side: until then
    // stanzas for it would be written into a closed stream, and a reconnecting component refused.
    if (this.attached) this.detach();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private feed(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.parser.writeBytes(chunk);
    } catch (e) {
      if (e instanceof ParseError) this.close(new StreamError(e.condition, e.message));
      else if (e instanceof StreamError) this.close(e);
      else {
        this.log.error('component input failed', e);
        this.close(new StreamError('internal-server-error'));
      }
    }
  }

  private onHeader(name: string, attrs: Attrs): void {
    if (this.domain !== null) throw new StreamError('invalid-xml', 'the stream is already open');
    if (name !== 'stream:stream' || attrs['xmlns:stream'] !== NS_STREAM) throw new StreamError('invalid-namespace', 'expected stream:stream in http://etherx.jabber.org/streams');
    if (attrs.xmlns !== NS_COMPONENT) throw new StreamError('invalid-namespace', `default namespace must be ${NS_COMPONENT}`);
    const to = attrs.to?.toLowerCase();
    if (to === undefined || this.host.secretOf(to) === undefined) throw new StreamError('host-unknown', 'no component is configured for that domain');
    this.domain = to;
    this.write(`<?xml version='1.0'?>${openTag('stream:stream', { xmlns: NS_COMPONENT, 'xmlns:stream': NS_STREAM, from: to, id: this.streamId })}`);
  }

  private onElement(el: XmlElement): void {
    const domain = this.domain!;
    if (!this.authenticated) {
      if (el.name !== 'handshake') throw new StreamError('not-authorized', 'send <handshake/> first');
      const expected = Buffer.from(handshakeDigest(this.streamId, this.host.secretOf(domain)!), 'utf8');
      const given = Buffer.from(el.getText().trim().toLowerCase(), 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new StreamError('not-authorized', 'wrong handshake');
      this.authenticated = true;
      // Stanzas the component sends meanwhile queue behind the claim, and are dropped if it fails.
      this.routing = this.routing.then(() => this.attach(domain));
      return;
    }
    if (!STANZAS.has(el.name)) throw new StreamError('unsupported-stanza-type', `<${el.name}/> is not a stanza`);
    if (tryParseJid(el.attrs.from)?.domain !== domain) throw new StreamError('invalid-from', `stanzas must be from ${domain} or a JID at it`);
    if (el.attrs.to === undefined) throw new StreamError('improper-addressing', 'stanzas need a to');
    el.attrs.xmlns = NS_CLIENT;
    this.routing = this.routing.then(() => (this.attached && !this.closed ? this.host.route(el) : undefined)).catch((e: unknown) => this.log.warn(`component ${domain}: routing ${el.toString().slice(0, 200)} failed`, e));
  }

  private write(data: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }

  private async attach(domain: string): Promise<void> {
    let held: boolean;
    try {
      held = await this.host.attach(domain, this);
    } catch (e) {
      this.log.warn(`component ${domain}: claiming the domain failed`, e);
      this.close(new StreamError('internal-server-error', 'could not claim the domain; try again'));
      return;
    }
    if (!held) {
      this.close(new StreamError('conflict', `a component is already connected for ${domain}`));
      return;
    }
    this.attached = true;
    // The socket went away while the domain was being claimed.
    if (this.closed) return this.detach();
    this.write('<handshake/>');
    this.log.info(`component ${domain} connected from ${this.socket.remoteAddress}`);
  }

  private detach(): void {
    this.attached = false;
    this.host.detach(this.domain!, this);
    this.log.info(`component ${this.domain} disconnected`);
  }

  private transportClosed(): void {
    this.closed = true;
    if (this.attached) this.detach();
  }
}
