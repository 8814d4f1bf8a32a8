/** Test support: an XEP-0114 component speaking the protocol by hand over raw TCP. */
import { connect, type Socket } from 'node:net';
import { handshakeDigest } from '../xmpp/modules/xep-0114-components/connection.js';

/** The secret the component tests configure. */
export const SECRET = 'bridge-secret';

/** A raw TCP peer speaking the component protocol by hand, keeping everything it receives. */
export class RawComponent {
  received = '';
  closed: Promise<void>;
  constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    // Attribute quotes normalised to ' so the patterns below need not care which the server writes.
    socket.on('data', (d: string) => (this.received += d.replace(/"/g, "'")));
    this.closed = new Promise((ok) => socket.once('close', () => ok()));
  }
  static async open(port: number, to: string): Promise<RawComponent> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((ok) => socket.once('connect', ok));
    const c = new RawComponent(socket);
    socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${to}'>`);
    return c;
  }
  send(xml: string): void {
    this.socket.write(xml);
  }
  async waitFor(pattern: RegExp, ms = 5000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.received.match(pattern);
      if (m !== null) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in: ${this.received}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  async authenticate(secret = SECRET): Promise<void> {
    const [, id] = await this.waitFor(/<stream:stream[^>]* id='([^']+)'/);
    this.send(`<handshake>${handshakeDigest(id!, secret)}</handshake>`);
  }
  end(): void {
    this.socket.destroy();
  }
}
