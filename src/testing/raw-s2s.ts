/**
 * A deliberately small s2s client for tests: it opens a stream to a server
 * as `from`, does STARTTLS presenting `cert`, authenticates with SASL
 * EXTERNAL or dialback (for as many domains as the test asks, on the one
 * stream), and then lets the test write anything, reading back what the
 * server says. Text-level on purpose: it must be able to send what a correct
 * implementation never would.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Pem } from './test-ca.js';

export class RawS2s {
  private buf = '';
  private waiters: (() => void)[] = [];
  private ended = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.listen(socket);
  }

  private listen(s: Socket): void {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    s.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    });
    s.on('error', () => {});
  }

  /** Everything received since the last restart. */
  get received(): string {
    return this.buf;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Waits until the received text matches `re` (or the connection closes), for at most `ms`. */
  async until(re: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.buf.match(re);
      if (m !== null) return m;
      if (this.ended) throw new Error(`connection closed before ${re}; received:\n${this.buf}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; received:\n${this.buf}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  write(s: string): void {
    this.socket.write(s);
  }

  /** Bytes written that the server has not taken yet: they wait here once the TCP buffers are full. */
  get unsent(): number {
    return this.socket.writableLength;
  }

  private header(from: string, to: string): void {
    this.buf = '';
    this.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='${from}' to='${to}' version='1.0'>`);
  }

  /** The id of the stream the server opened last (the one dialback keys are for). */
  get streamId(): string {
    return /<stream:stream[^>]*\sid=["']([^"']+)["']/.exec(this.buf)?.[1] ?? '';
  }

  /** Connects as `from` to `to`, with STARTTLS presenting `cert` (if any), and waits for the features of the encrypted stream. */
  static async open(opts: { host: string; port: number; from: string; to: string; cert?: Pem }): Promise<RawS2s> {
    const raw = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: opts.host, port: opts.port }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawS2s(raw);
    c.header(opts.from, opts.to);
    await c.until(/<\/stream:features>/);
    c.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    await c.until(/<proceed/);
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: raw, servername: opts.to, cert: opts.cert?.cert, key: opts.cert?.key, rejectUnauthorized: false }, () => resolve(t));
      t.once('error', reject);
    });
    c.socket = secure;
    c.listen(secure);
    c.header(opts.from, opts.to);
    await c.until(/<\/stream:features>/);
    return c;
  }

  /** Connects and authenticates `from` → `to` with SASL EXTERNAL; throws with the transcript when the server does not allow it. */
  static async authenticated(opts: { host: string; port: number; from: string; to: string; cert: Pem }): Promise<RawS2s> {
    const c = await RawS2s.open(opts);
    if (!/EXTERNAL/.test(c.buf)) throw new Error(`the server offered no SASL EXTERNAL to ${opts.from}:\n${c.buf}`);
    c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`);
    await c.until(/<success/);
    c.header(opts.from, opts.to);
    await c.until(/<\/stream:features>|<stream:features\/>/);
    c.buf = '';
    return c;
  }

  /** XEP-0220 §2.1 on this stream: asks to send as `from` to `to` with `key`; the server's verdict (one request at a time). */
  async dialback(from: string, to: string, key: string): Promise<{ type: string; from: string; to: string }> {
    this.buf = '';
    this.write(`<db:result from='${from}' to='${to}'>${key}</db:result>`);
    const [tag] = await this.until(/<db:result\b[^>]*\stype=[^>]*>/, 15_000);
    const attr = (name: string): string => new RegExp(`\\s${name}=["']([^"']*)["']`).exec(tag)?.[1] ?? '';
    return { type: attr('type'), from: attr('from'), to: attr('to') };
  }

  close(): void {
    this.socket.destroy();
  }
}
