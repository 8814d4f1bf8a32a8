import { createHmac } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { XmppParser } from '../xmpp/stream/parser.js';
import type { XmlElement, Attrs } from '../util/xml.js';
import { ScramClient } from '../xmpp/sasl/scram.js';

/**
 * A deliberately small XMPP client over raw sockets, for tests that must
 * send what a well-behaved library never would (bad XML, spoofed from,
 * oversized stanzas) and read stream-level replies exactly.
 */
export class RawClient {
  private socket: Socket | TLSSocket;
  private parser!: XmppParser;
  readonly elements: XmlElement[] = [];
  header: Attrs | null = null;
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.attach();
  }

  /** `tlsOptions`: added to the client's TLS options (maxVersion, ALPNProtocols), for direct TLS and startTls. */
  static connect(port: number, opts: { tls?: boolean; tlsOptions?: ConnectionOptions } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = opts.tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost', ...opts.tlsOptions }) : netConnect({ port, host: '127.0.0.1' });
      s.once(opts.tls ? 'secureConnect' : 'connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private attach(): void {
    this.parser = new XmppParser(
      {
        onStreamStart: (_n, attrs) => {
          this.header = attrs;
          this.notify();
        },
        onStanza: (el) => {
          this.elements.push(el);
          this.notify();
        },
        onStreamEnd: () => {
          this.closed = true;
          this.notify();
        },
      },
      { maxStanzaSize: 1 << 24, maxDepth: 100, maxAttributes: 100 },
    );
    this.socket.on('data', (d: Buffer) => {
      try {
        this.parser.writeBytes(d);
      } catch {
        // Tests look at what was parsed before.
      }
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    this.socket.on('error', () => {});
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(data: string): void {
    this.socket.write(data);
  }

  /** Opens (or restarts) the stream; the reply is a new document, so parsing starts over. */
  open(to = 'localhost'): void {
    this.parser.reset();
    this.header = null;
    this.write(`<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
  }

  /** Waits for an element matching pred that arrived after index `from` (default: any). */
  async next(pred: (el: XmlElement) => boolean, timeoutMs = 5000): Promise<XmlElement> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.elements.find(pred);
      if (found) {
        this.elements.splice(this.elements.indexOf(found), 1);
        return found;
      }
      if (this.closed) throw new Error(`stream closed; received: ${this.elements.map((e) => e.toString()).join(' ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; received: ${this.elements.map((e) => e.toString()).join(' ')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('stream not closed');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  features(): Promise<XmlElement> {
    return this.next((e) => e.name === 'stream:features');
  }

  async startTls(tlsOptions: ConnectionOptions = {}): Promise<void> {
    this.open();
    await this.features();
    this.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await this.next((e) => e.name === 'proceed');
    this.socket = await upgradeToTls(this.socket, tlsOptions);
    this.attach();
  }

  get tlsSocket(): TLSSocket {
    return this.socket as TLSSocket;
  }

  /** SCRAM login; resolves with the final element (success or failure). */
  async scram(user: string, password: string, mechanism = 'SCRAM-SHA-1', binding: { type: string; data: Buffer } | null = null): Promise<XmlElement> {
    const hash = mechanism.startsWith('SCRAM-SHA-256') ? 'SHA-256' : 'SHA-1';
    const c = new ScramClient(hash, user, password, binding);
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${Buffer.from(c.first()).toString('base64')}</auth>`);
    const ch = await this.next((e) => e.name === 'challenge' || e.name === 'failure');
    if (ch.name === 'failure') return ch;
    this.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(c.final(Buffer.from(ch.getText(), 'base64').toString())).toString('base64')}</response>`);
    return this.next((e) => e.name === 'success' || e.name === 'failure');
  }

  /** XEP-0388 SCRAM login with `inline` requests (Bind2, SM resumption) inside `<authenticate/>`; resolves with success or failure. */
  async scram2(user: string, password: string, inline = '', userAgentId?: string): Promise<XmlElement> {
    const c = new ScramClient('SHA-1', user, password);
    const ua = userAgentId === undefined ? '' : `<user-agent id='${userAgentId}'><software>raw</software></user-agent>`;
    this.write(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>${Buffer.from(c.first()).toString('base64')}</initial-response>${ua}${inline}</authenticate>`);
    const ch = await this.next((e) => e.name === 'challenge' || e.name === 'failure');
    if (ch.name === 'failure') return ch;
    this.write(`<response xmlns='urn:xmpp:sasl:2'>${Buffer.from(c.final(Buffer.from(ch.getText(), 'base64').toString())).toString('base64')}</response>`);
    const end = await this.next((e) => e.name === 'success' || e.name === 'failure');
    const data = end.getChildText('additional-data');
    if (end.name === 'success' && (data === undefined || !c.verify(Buffer.from(data, 'base64').toString()))) throw new Error(`server signature missing or wrong: ${end.toString()}`);
    return end;
  }

  /** XEP-0484 login with a FAST token (HT-SHA-256-NONE); resolves with success or failure. */
  async fast(user: string, token: string, userAgentId: string, inline = ''): Promise<XmlElement> {
    const proof = createHmac('sha256', token).update('Initiator').digest();
    const initial = Buffer.concat([Buffer.from(`${user}\u0000`), proof]).toString('base64');
    this.write(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>${initial}</initial-response><user-agent id='${userAgentId}'/><fast xmlns='urn:xmpp:fast:0'/>${inline}</authenticate>`);
    const end = await this.next((e) => e.name === 'success' || e.name === 'failure');
    const expected = createHmac('sha256', token).update('Responder').digest('base64');
    if (end.name === 'success' && end.getChildText('additional-data') !== expected) throw new Error(`the server did not prove it knows the token: ${end.toString()}`);
    return end;
  }

  /** STARTTLS, SCRAM, restart, bind: a ready session. */
  async login(user: string, password: string, resource = 'raw'): Promise<string> {
    await this.startTls();
    this.open();
    await this.features();
    const r = await this.scram(user, password);
    if (r.name !== 'success') throw new Error(`login failed: ${r.toString()}`);
    this.open();
    await this.features();
    this.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    const bound = await this.next((e) => e.name === 'iq' && e.attrs.id === 'bind');
    return bound.getChild('bind')!.getChildText('jid')!;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** After `<proceed/>`: detaches the plain socket's listeners and resolves with the TLS socket over it, its handshake done (test certificates accepted). */
export function upgradeToTls(raw: Socket, tlsOptions: ConnectionOptions = {}): Promise<TLSSocket> {
  raw.removeAllListeners('data');
  raw.removeAllListeners('close');
  return new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost', ...tlsOptions });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}
