import { expect } from 'chai';
import { TestServer } from '../../testing/harness.js';
import { eventually } from '../../testing/eventually.js';
import { defineModule } from '../module.js';
import type { Transport } from '../transport/transport.js';
import { C2sConnection } from './c2s.js';

const HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
const PLAIN = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0secret').toString('base64')}</auth>`;

/** A TCP connection held in memory: bytes in, what is written kept as text, and whether reading is paused. */
class Wire implements Transport {
  readonly kind = 'tcp' as const;
  readonly secure = true;
  readonly canStartTls = false;
  readonly remoteAddress = '192.0.2.9';
  readonly framed = false;
  out = '';
  paused = false;
  private deliver: (chunk: Buffer | string) => void = () => undefined;

  start(onData: (chunk: Buffer | string) => void): void {
    this.deliver = onData;
  }
  send(data: string): void {
    this.deliver(Buffer.from(data));
  }
  write(data: string): void {
    this.out += data;
  }
  startTls(): Promise<void> {
    return Promise.reject(new Error('not here'));
  }
  channelBindingTypes(): string[] {
    return [];
  }
  channelBinding(): Buffer | null {
    return null;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  end(): void {}
  destroy(): void {}
}

describe('c2s input behind a slow handler', () => {
  let ts: TestServer;
  let release: () => void = () => undefined;
  /** Stanzas with id 'slow' are handled only once the test releases them, as behind a stalled store. */
  const stall = defineModule({
    name: 'stall',
    implements: 'test',
    start(ctx) {
      ctx.hook('stanza/in', ({ stanza }) => (stanza.attrs.id === 'slow' ? new Promise<boolean>((r) => (release = () => r(false))) : false));
    },
  });
  beforeEach(async () => {
    ts = await TestServer.start([stall], { server: { logLevel: 'error' } });
    await ts.addUser('alice@localhost');
  });
  afterEach(() => ts.stop());

  it('stops reading while many stanzas wait, instead of holding all a flooding client sends, and handles them all in order', async () => {
    const bob = await ts.login('bob@localhost/b');
    const t = new Wire();
    new C2sConnection(ts.server, t);
    t.send(HEADER + PLAIN);
    await eventually(() => expect(t.out).to.include('<success'));
    t.send(HEADER + `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await eventually(() => expect(t.out).to.include(`id="bind"`));
    let flood = `<message to='bob@localhost/b' type='chat' id='slow'><body>first</body></message>`;
    for (let i = 0; i < 1000; i++) flood += `<message to='bob@localhost/b' type='chat' id='m${i}'><body>${i}</body></message>`;
    t.send(flood);
    expect(t.paused, 'reading stops while the stanzas wait').to.equal(true);
    release();
    await eventually(() => expect(bob.all((e) => e.name === 'message')).to.have.length(1001));
    expect(bob.all((e) => e.name === 'message').map((e) => e.attrs.id)).to.deep.equal(['slow', ...Array.from({ length: 1000 }, (_, i) => `m${i}`)]);
    expect(t.paused, 'reading resumes once they are handled').to.equal(false);
  });
});
