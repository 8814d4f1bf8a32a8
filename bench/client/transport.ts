/**
 * Byte transports under the benchmark client: TCP with STARTTLS (RFC 6120)
 * and WebSocket (RFC 7395). Both deliver the same three events — stream
 * header, whole stanza, stream end — so the session logic above is shared.
 */
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { StanzaSplitter, type StanzaSink } from './stanza-splitter.js';

export interface TransportEvents extends StanzaSink {
  onClose(error?: Error): void;
}

export interface Transport {
  /** Open the XMPP stream (or re-open it after STARTTLS / SASL). */
  openStream(domain: string): void;
  send(data: string): void;
  /** Switch to TLS in place; resolves once the handshake is done. Only TCP supports it. */
  startTls(domain: string): Promise<void>;
  readonly secure: boolean;
  close(): void;
}

/**
 * One TLS context for every connection: building a SecureContext (CA store,
 * cipher lists) per tls.connect costs the generator more CPU than the
 * handshake itself. Sharing it changes nothing on the wire.
 */
let sharedSecureContext: tls.SecureContext | null = null;

export class TcpTransport implements Transport {
  private socket: net.Socket | tls.TLSSocket;
  private readonly splitter: StanzaSplitter;
  private closed = false;
  secure = false;

  private constructor(
    socket: net.Socket,
    private readonly events: TransportEvents,
  ) {
    this.socket = socket;
    this.splitter = new StanzaSplitter(events);
    this.attach(socket);
  }

  static connect(host: string, port: number, events: TransportEvents): Promise<TcpTransport> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new TcpTransport(socket, events));
      });
    });
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.splitter.write(chunk));
    socket.on('error', (error) => this.finish(error));
    socket.on('close', () => this.finish());
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onClose(error);
  }

  openStream(domain: string): void {
    this.splitter.reset();
    this.socket.write(
      `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
    );
  }

  send(data: string): void {
    if (!this.closed) this.socket.write(data);
  }

  startTls(domain: string): Promise<void> {
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    return new Promise((resolve, reject) => {
      // Self-signed certificates on loopback: identity is not what is measured here.
      sharedSecureContext ??= tls.createSecureContext();
      const secured = tls.connect({ socket: plain, servername: domain, rejectUnauthorized: false, secureContext: sharedSecureContext });
      secured.once('secureConnect', () => {
        secured.off('error', reject);
        this.socket = secured;
        this.secure = true;
        this.attach(secured);
        resolve();
      });
      secured.once('error', reject);
    });
  }

  close(): void {
    if (this.closed) return;
    this.socket.end('</stream:stream>');
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

export class WebSocketTransport implements Transport {
  private closed = false;
  readonly secure = false;

  private constructor(
    private readonly socket: WebSocket,
    private readonly events: TransportEvents,
  ) {
    socket.on('message', (data) => this.onFrame(data.toString()));
    socket.on('error', (error) => this.finish(error));
    socket.on('close', () => this.finish());
  }

  static connect(url: string, events: TransportEvents): Promise<WebSocketTransport> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, 'xmpp', { perMessageDeflate: false });
      socket.once('error', reject);
      socket.once('open', () => {
        socket.off('error', reject);
        resolve(new WebSocketTransport(socket, events));
      });
    });
  }

  /** RFC 7395 frames carry exactly one element each: no tokenizing needed. */
  private onFrame(frame: string): void {
    if (frame.startsWith('<open')) this.events.onStreamHeader(frame);
    else if (frame.startsWith('<close')) this.events.onStreamEnd();
    else this.events.onStanza(frame);
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onClose(error);
  }

  openStream(domain: string): void {
    this.socket.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${domain}' version='1.0'/>`);
  }

  send(data: string): void {
    if (!this.closed) this.socket.send(withClientNamespace(data));
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('STARTTLS is not used over WebSocket'));
  }

  close(): void {
    if (this.closed) return;
    this.socket.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}

/**
 * Over WebSocket there is no <stream:stream> to inherit the default namespace
 * from, so each stanza must declare jabber:client itself (RFC 7395 §3.3.3).
 */
function withClientNamespace(data: string): string {
  const isStanza = data.startsWith('<message') || data.startsWith('<iq') || data.startsWith('<presence');
  if (!isStanza) return data;
  const nameEnd = data.search(/[\s/>]/);
  const tagEnd = data.indexOf('>');
  if (data.slice(0, tagEnd).includes('xmlns=')) return data;
  return `${data.slice(0, nameEnd)} xmlns='jabber:client'${data.slice(nameEnd)}`;
}
