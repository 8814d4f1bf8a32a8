import { expect } from 'chai';
import { TestServer } from '../../testing/harness.js';
import { defineModule } from '../module.js';
import { eventually } from '../../testing/eventually.js';
import type { XmlElement } from '../../util/xml.js';
import type { Transport } from '../transport/transport.js';
import { C2sConnection } from './c2s.js';
import { parseXml } from './parse-xml.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const OPEN = `<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`;
const CLOSE = `<close xmlns='${FRAMING}'/>`;
const PLAIN = (user: string) => `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0secret`).toString('base64')}</auth>`;
const BIND = (resource: string, id: string) => `<iq xmlns='jabber:client' type='set' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`;

/** An RFC 7395 connection held in memory: frames in, frames out, parsed. */
class Frames implements Transport {
  readonly kind = 'websocket' as const;
  readonly secure = true;
  readonly canStartTls = false;
  readonly remoteAddress = '192.0.2.7';
  readonly framed = true;
  readonly out: XmlElement[] = [];
  ended = false;
  private deliver: (chunk: Buffer | string) => void = () => undefined;

  start(onData: (chunk: Buffer | string) => void): void {
    this.deliver = onData;
  }
  send(frame: string): void {
    this.deliver(frame);
  }
  write(data: string): void {
    this.out.push(parseXml(data));
  }
  startTls(): Promise<void> {
    return Promise.reject(new Error('not over WebSocket'));
  }
  channelBindingTypes(): string[] {
    return [];
  }
  channelBinding(): Buffer | null {
    return null;
  }
  pause(): void {}
  resume(): void {}
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.ended = true;
  }
}

describe('c2s stream lifecycle (RFC 6120 §4.3, §4.4; RFC 7395)', () => {
  let ts: TestServer;
  /** A module that fails on every stanza marked `boom`, as a bug would. */
  const broken = defineModule({
    name: 'broken',
    implements: 'test',
    start(ctx) {
      ctx.hook('stanza/in', ({ stanza }) => {
        if (stanza.attrs.id?.startsWith('boom') === true) throw new Error('a bug');
        return false;
      });
    },
  });
  beforeEach(async () => {
    ts = await TestServer.start([broken], { server: { logLevel: 'error' }, websocket: { consideredSecure: true } });
    await ts.addUser('alice@localhost');
  });
  afterEach(() => ts.stop());

  /** A WebSocket stream authenticated as Alice and bound to `resource`. */
  async function bound(resource: string): Promise<Frames> {
    const t = new Frames();
    new C2sConnection(ts.server, t);
    t.send(OPEN);
    t.send(PLAIN('alice'));
    await eventually(() => expect(t.out.some((e) => e.name === 'success')).to.equal(true));
    t.send(OPEN);
    t.send(BIND(resource, 'b1'));
    await eventually(() => expect(t.out.some((e) => e.attrs.id === 'b1' && e.attrs.type === 'result')).to.equal(true));
    return t;
  }

  it('handles every stanza the client sent before closing its stream, then closes', async () => {
    const bob = await ts.login('bob@localhost/b');
    const t = await bound('web');
    t.send(`<message xmlns='jabber:client' to='bob@localhost/b' type='chat' id='m1'><body>one</body></message>`);
    t.send(`<message xmlns='jabber:client' to='bob@localhost/b' type='chat' id='m2'><body>two</body></message>`);
    t.send(CLOSE);
    await eventually(() => expect(t.ended).to.equal(true));
    expect(bob.all((e) => e.name === 'message').map((e) => e.attrs.id)).to.deep.equal(['m1', 'm2']);
  });

  it('refuses to reopen a bound stream, which would bind a second resource and orphan the first', async () => {
    const t = await bound('first');
    t.send(OPEN);
    t.send(BIND('second', 'b2'));
    await eventually(() => expect(t.ended).to.equal(true));
    expect(t.out.find((e) => e.name === 'stream:error')?.elements()[0]?.name).to.equal('invalid-xml');
    expect(t.out.some((e) => e.attrs.id === 'b2')).to.equal(false);
    await eventually(() => expect([...ts.server.sessions.all()].map((s) => s.jid.full)).to.deep.equal([]));
  });

  it('closes with not-well-formed a WebSocket message that is not a complete element (RFC 7395 §3.3.3, §3.6)', async () => {
    // A pre-RFC client's unclosed stream header, and half a stanza on an open stream.
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
    for (const frames of [[header], [OPEN, `<message xmlns='jabber:client' to='alice@localhost'><body>half`]]) {
      const t = new Frames();
      new C2sConnection(ts.server, t);
      for (const f of frames) t.send(f);
      expect(t.ended, frames.at(-1)).to.equal(true);
      const names = t.out.map((e) => e.name);
      expect(names.slice(-2)).to.deep.equal(['stream:error', 'close']);
      expect(names[0]).to.equal('open');
      expect(t.out.at(-2)!.elements()[0]?.name).to.equal('not-well-formed');
    }
  });

  it('answers a stanza whose handling failed with internal-server-error, but never an error or an iq result (§8.3.1)', async () => {
    const t = await bound('web');
    t.send(`<message xmlns='jabber:client' to='alice@localhost' type='error' id='boom-1'/>`);
    t.send(`<iq xmlns='jabber:client' to='alice@localhost' type='result' id='boom-2'/>`);
    t.send(`<message xmlns='jabber:client' to='alice@localhost' type='chat' id='boom-3'><body>x</body></message>`);
    await eventually(() => expect(t.out.some((e) => e.attrs.id === 'boom-3')).to.equal(true));
    const answered = t.out.filter((e) => e.attrs.id?.startsWith('boom') === true);
    expect(answered.map((e) => [e.attrs.id, e.attrs.type, e.getChild('error')?.elements()[0]?.name])).to.deep.equal([['boom-3', 'error', 'internal-server-error']]);
  });
});
