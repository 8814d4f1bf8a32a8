import { expect } from 'chai';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import type { Sori } from '../src/sori.js';
import { MemoryStore } from '../src/storage/memory/index.js';
import { RawClient, upgradeToTls } from '../src/testing/raw-client.js';
import { startTestSori } from '../src/testing/test-sori.js';
import { parseJid } from '../src/util/jid.js';
import type { XmlElement } from '../src/util/xml.js';
import { XmppParser } from '../src/xmpp/stream/parser.js';

/**
 * What a hostile or broken client sees over real sockets (RFC 6120 §4.9 stream errors, §11 restricted XML):
 * each case ends with the condition the RFC names, or is handled, and the server goes on serving others.
 */

const HEADER = `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const PLAIN = (user: string) => `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0secret`).toString('base64')}</auth>`;

/** A socket whose input is parsed as the server's stream, restartable, and which writes raw bytes. */
class Wire {
  readonly elements: XmlElement[] = [];
  closed = false;
  private parser = this.newParser();

  private constructor(public socket: Socket | TLSSocket) {
    this.listen();
  }

  static connect(port: number, tls = false): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' }) : netConnect({ port, host: '127.0.0.1' });
      s.once(tls ? 'secureConnect' : 'connect', () => resolve(new Wire(s)));
      s.once('error', reject);
    });
  }

  private newParser(): XmppParser {
    return new XmppParser({ onStreamStart: () => {}, onStanza: (el) => this.elements.push(el), onStreamEnd: () => (this.closed = true) }, { maxStanzaSize: 1 << 24, maxDepth: 100, maxAttributes: 100 });
  }

  private listen(): void {
    this.socket.on('data', (d: Buffer) => {
      try {
        this.parser.writeBytes(d);
      } catch {
        // What came before is what the test looks at.
      }
    });
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** A new server stream follows (after STARTTLS or SASL): what came before is forgotten. */
  restart(): void {
    this.elements.length = 0;
    this.parser = this.newParser();
  }

  async until(pred: (el: XmlElement) => boolean, what: string): Promise<XmlElement> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = this.elements.find(pred);
      if (found !== undefined) return found;
      if (this.closed || Date.now() > deadline) throw new Error(`no ${what}; received: ${this.elements.map(String).join(' ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The condition of the stream error the server ended with, once the connection is closed. */
  async streamError(): Promise<string> {
    const err = await this.until((e) => e.name === 'stream:error', 'stream error');
    const deadline = Date.now() + 5000;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(this.closed, 'the server closes the stream after its error').to.equal(true);
    return err.elements()[0]!.name;
  }

  async startTls(): Promise<void> {
    this.socket = await upgradeToTls(this.socket);
    this.restart();
    this.listen();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('hostile streams over real sockets (RFC 6120 §4.9, §11)', function () {
  this.timeout(20000);
  let sori: Sori;
  let port: number;
  let tlsPort: number;
  let wsPort: number;
  let witness: RawClient;

  before(async () => {
    sori = await startTestSori({ c2s: { maxStanzaSize: 10000, directTlsPort: 5223 }, websocket: { tlsPort: 5443 } }, { store: new MemoryStore() });
    port = sori.listening.ports.c2s!;
    tlsPort = sori.listening.ports['c2s-tls']!;
    wsPort = sori.listening.ports.ws!;
    for (const user of ['alice', 'mallory', 'witness']) await sori.server.createAccount(parseJid(`${user}@localhost`), 'secret');
    witness = await RawClient.connect(port);
    await witness.login('witness', 'secret', 'w');
  });
  after(async () => {
    witness.destroy();
    await sori.stop();
  });
  /** After every case, a logged-in client is still answered. */
  afterEach(async () => {
    const id = `ping-${Math.random()}`;
    witness.write(`<iq type='get' id='${id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect((await witness.next((e) => e.attrs.id === id)).attrs.type).to.equal('result');
  });

  /** A direct-TLS stream opened as `localhost`, features read. */
  async function opened(): Promise<Wire> {
    const w = await Wire.connect(tlsPort, true);
    w.write(HEADER);
    await w.until((e) => e.name === 'stream:features', 'features');
    return w;
  }

  /** A direct-TLS stream logged in as alice and bound. */
  async function bound(): Promise<Wire> {
    const w = await opened();
    w.write(PLAIN('alice'));
    await w.until((e) => e.name === 'success', 'success');
    w.restart();
    w.write(HEADER);
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await w.until((e) => e.attrs.id === 'b', 'bind result');
    return w;
  }

  /** The stream error a WebSocket stream is closed with after `frame`. */
  async function webSocketError(frame: string): Promise<string | undefined> {
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/xmpp-websocket`, 'xmpp');
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    await new Promise((r) => ws.once('open', r));
    ws.send(`<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`);
    ws.send(frame);
    await new Promise((r) => ws.once('close', r));
    return /<stream:error[^>]*><([a-z-]+)/.exec(frames.find((f) => f.startsWith('<stream:error')) ?? '')?.[1];
  }

  const to = `to='witness@localhost/w'`;
  const cases: [string, 'opened' | 'bound', (string | Buffer)[], string][] = [
    ['a raw U+FFFE', 'bound', [Buffer.from(`<message ${to}><body>\uFFFE</body></message>`)], 'not-well-formed'],
    ['a raw U+FFFF in an attribute', 'bound', [Buffer.from(`<message ${to} id='\uFFFF'/>`)], 'not-well-formed'],
    ['invalid UTF-8 split across TLS records', 'bound', [`<message ${to}><body>`, Buffer.from([0xe2]), Buffer.from([0x82]), Buffer.from('(</body></message>')], 'unsupported-encoding'],
    ['an overlong UTF-8 form of <', 'bound', [`<message ${to}><body>`, Buffer.from([0xc0, 0xbc]), '</body></message>'], 'unsupported-encoding'],
    ['a surrogate encoded in UTF-8', 'bound', [`<message ${to}><body>`, Buffer.from([0xed, 0xa0, 0x80]), '</body></message>'], 'unsupported-encoding'],
    ['an undeclared prefix on an element', 'bound', [`<message ${to}><foo:x/></message>`], 'not-well-formed'],
    ['an undeclared prefix on an attribute', 'bound', [`<message ${to} foo:x='1'/>`], 'not-well-formed'],
    ['one attribute twice, through two prefixes for one namespace', 'bound', [`<message ${to} xmlns:a='urn:x' xmlns:b='urn:x' a:y='1' b:y='2'/>`], 'not-well-formed'],
    ['a second stream header on a bound stream', 'bound', [HEADER.replace("<?xml version='1.0'?>", '')], 'invalid-xml'],
    ['a second stream header before authentication', 'opened', [HEADER.replace("<?xml version='1.0'?>", '')], 'invalid-xml'],
    ['a stream restart written ahead of its SASL success', 'opened', [PLAIN('alice') + HEADER.replace("<?xml version='1.0'?>", '')], 'invalid-xml'],
    // What was right already, over a real socket.
    ['an internal entity reference', 'bound', [`<message ${to}><body>&foo;</body></message>`], 'restricted-xml'],
    ['an external entity declaration', 'bound', [`<!ENTITY x SYSTEM 'file:///etc/passwd'>`], 'restricted-xml'],
    ['a DOCTYPE before the stream header', 'opened', [`<!DOCTYPE x>`], 'restricted-xml'],
    ['a processing instruction in a stanza', 'bound', [`<message ${to}><?php echo 1 ?></message>`], 'restricted-xml'],
    ['a second XML declaration', 'bound', [`<?xml version='1.0'?>`], 'restricted-xml'],
    ['a comment in a stanza', 'bound', [`<message ${to}><!-- x --></message>`], 'restricted-xml'],
    ['&#0;', 'bound', [`<message ${to}><body>&#0;</body></message>`], 'not-well-formed'],
    ['&#xD800;', 'bound', [`<message ${to}><body>&#xD800;</body></message>`], 'not-well-formed'],
    ['&#xFFFE; in an attribute', 'bound', [`<message ${to} id='&#xFFFE;'/>`], 'not-well-formed'],
    ['a raw NUL split from its stanza', 'bound', [`<message ${to}><body>`, Buffer.from([0]), '</body></message>'], 'not-well-formed'],
    ['the same attribute twice', 'bound', [`<message ${to} id='1' id='2'/>`], 'not-well-formed'],
    ['a closing tag that does not match', 'bound', [`<message ${to}><body>x</message></body>`], 'not-well-formed'],
    ['text between stanzas', 'bound', [`hello<presence/>`], 'not-well-formed'],
    ['a line of text and nothing after it', 'bound', [`hello\n`], 'not-well-formed'],
    ['too many attributes', 'bound', [`<message ${to} ${Array.from({ length: 70 }, (_, i) => `a${i}='1'`).join(' ')}/>`], 'policy-violation'],
    ['an element name longer than a stanza may be', 'bound', [`<${'a'.repeat(20000)}/>`], 'policy-violation'],
    ['elements nested past the depth limit', 'bound', [`<message ${to}>${'<x>'.repeat(40)}`], 'policy-violation'],
    ['a stanza one character over the size limit', 'bound', [`<message ${to}><body>${'x'.repeat(10001 - `<message ${to}><body></body></message>`.length)}</body></message>`], 'policy-violation'],
    ['a stanza qualified by the stream namespace', 'bound', [`<stream:message ${to}><body>x</body></stream:message>`], 'unsupported-stanza-type'],
    ['a jabber:server stanza on a client stream', 'bound', [`<message xmlns='jabber:server' ${to} from='alice@localhost'><body>x</body></message>`], 'unsupported-stanza-type'],
  ];
  for (const [what, state, writes, condition] of cases) {
    it(`ends a stream that sends ${what} with ${condition}`, async () => {
      const w = state === 'bound' ? await bound() : await opened();
      // One write each, so that each is one TLS record.
      for (const data of writes) {
        w.write(data);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await w.streamError()).to.equal(condition);
    });
  }

  it('passes on prefixes declared where they are used, and attributes of one local name in two namespaces', async () => {
    const w = await bound();
    w.write(`<message ${to} id='ns' xml:lang='en' xmlns:a='urn:a' xmlns:b='urn:b' a:y='1' b:y='2'><a:x><b:z/></a:x></message>`);
    const m = await witness.next((e) => e.attrs.id === 'ns');
    expect(m.toString()).to.include('<a:x><b:z/></a:x>');
    expect([m.attrs['a:y'], m.attrs['b:y'], m.attrs['xmlns:a']]).to.deep.equal(['1', '2', 'urn:a']);
    w.destroy();
  });

  it('passes on a prefix declared on the stream header declared on the stanza, which goes on without the header', async () => {
    const w = await Wire.connect(tlsPort, true);
    const header = HEADER.replace('<stream:stream ', "<stream:stream xmlns:foo='urn:foo' ");
    w.write(header + PLAIN('alice'));
    await w.until((e) => e.name === 'success', 'success');
    w.restart();
    w.write(header + `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await w.until((e) => e.attrs.id === 'b', 'bind result');
    w.write(`<message ${to} id='header-prefix'><foo:x foo:y='1'/><stream:z/></message>`);
    const m = await witness.next((e) => e.attrs.id === 'header-prefix');
    expect([m.attrs['xmlns:foo'], m.attrs['xmlns:stream']]).to.deep.equal(['urn:foo', 'http://etherx.jabber.org/streams']);
    w.destroy();
  });

  it('takes a byte order mark before the stream header, and before the header of a restarted stream (XML 1.0 §4.3.3)', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const w = await Wire.connect(tlsPort, true);
    w.write(bom);
    w.write(HEADER);
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(PLAIN('alice'));
    await w.until((e) => e.name === 'success', 'success');
    w.restart();
    w.write(Buffer.concat([bom, Buffer.from(HEADER)]));
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await w.until((e) => e.attrs.id === 'b', 'bind result');
    w.destroy();
  });

  it('gives stanzas without xml:lang the language of the stream header (§4.7.4), over TCP and WebSocket', async () => {
    const w = await Wire.connect(tlsPort, true);
    const header = HEADER.replace('<stream:stream ', "<stream:stream xml:lang='de' ");
    w.write(header + PLAIN('alice'));
    await w.until((e) => e.name === 'success', 'success');
    w.restart();
    w.write(header + `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await w.until((e) => e.attrs.id === 'b', 'bind result');
    w.write(`<message ${to} id='lang1'><body>Hallo</body></message><message ${to} id='lang2' xml:lang='fr'><body>Salut</body></message>`);
    expect((await witness.next((e) => e.attrs.id === 'lang1')).attrs['xml:lang']).to.equal('de');
    expect((await witness.next((e) => e.attrs.id === 'lang2')).attrs['xml:lang']).to.equal('fr');
    w.destroy();

    // wss: PLAIN is offered over TLS only.
    const ws = new WebSocket(`wss://127.0.0.1:${sori.listening.ports.wss!}/xmpp-websocket`, 'xmpp', { rejectUnauthorized: false });
    const success = new Promise((r) => ws.on('message', (d) => String(d).startsWith('<success') && r(undefined)));
    await new Promise((r) => ws.once('open', r));
    const open = `<open xmlns='${FRAMING}' to='localhost' version='1.0' xml:lang='nl'/>`;
    ws.send(open);
    ws.send(PLAIN('alice'));
    await success;
    ws.send(open);
    ws.send(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    ws.send(`<message xmlns='jabber:client' ${to} id='lang3'><body>Hoi</body></message>`);
    expect((await witness.next((e) => e.attrs.id === 'lang3')).attrs['xml:lang']).to.equal('nl');
    ws.close();
  });

  it('takes whitespace keepalives before and after authentication, CDATA, and a stanza just under the size limit written a byte at a time', async () => {
    const w = await Wire.connect(tlsPort, true);
    w.write(' \n' + HEADER + ' \t\r\n ');
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(' ' + PLAIN('alice') + ' ');
    await w.until((e) => e.name === 'success', 'success');
    w.restart();
    w.write(HEADER + ' ');
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n\n`);
    await w.until((e) => e.attrs.id === 'b', 'bind result');
    const head = `<message ${to} id='bytes'><body>é😀 <![CDATA[<b>&amp;]]>`;
    const tail = '</body></message>';
    // 10,000 characters in all, the limit of this server.
    const stanza = head + 'x'.repeat(10000 - head.length - tail.length) + tail;
    const bytes = Buffer.from(stanza);
    (w.socket as TLSSocket).setNoDelay(true);
    for (let i = 0; i < bytes.length; i++) {
      w.write(bytes.subarray(i, i + 1));
      // Each its own TLS record for the first bytes, the multi-byte characters among them.
      if (i < 80) await new Promise((r) => setImmediate(r));
    }
    w.write(' ');
    const m = await witness.next((e) => e.attrs.id === 'bytes');
    expect(m.getChildText('body')!.slice(0, 13)).to.equal('é😀 <b>&amp;x');
    w.destroy();
  });

  it('over BOSH, refuses a body that is not UTF-8 with bad-request instead of taking U+FFFD for its bytes', async () => {
    const post = async (body: Buffer): Promise<string> => (await fetch(`http://127.0.0.1:${wsPort}/http-bind`, { method: 'POST', body })).text();
    const creation = (lang: string) => Buffer.concat([Buffer.from(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0' rid='1' wait='1' hold='1' to='localhost' xml:lang='`), Buffer.from(lang, 'latin1'), Buffer.from(`'/>`)]);
    expect(await post(creation('en'))).to.include('sid=');
    const refused = await post(creation('e\xffn'));
    expect(refused).to.include('type="terminate"');
    expect(refused).to.include('condition="bad-request"');
  });

  it('over WebSocket, takes a stanza of non-Latin text within the size limit (counted in characters), and ends a longer one with policy-violation', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${sori.listening.ports.wss!}/xmpp-websocket`, 'xmpp', { rejectUnauthorized: false });
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(String(d)));
    const success = new Promise((r) => ws.on('message', (d) => String(d).startsWith('<success') && r(undefined)));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await new Promise((r) => ws.once('open', r));
    const open = `<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`;
    ws.send(open);
    ws.send(PLAIN('alice'));
    await success;
    ws.send(open);
    ws.send(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    // 9,000 characters, three bytes each in UTF-8: under this server's 10,000, though 27 KB on the wire.
    ws.send(`<message xmlns='jabber:client' ${to} id='cjk'><body>${'漢'.repeat(9000)}</body></message>`);
    expect((await witness.next((e) => e.attrs.id === 'cjk')).getChildText('body')).to.have.length(9000);
    ws.send(`<message xmlns='jabber:client' ${to} id='cjk2'><body>${'漢'.repeat(10000)}</body></message>`);
    await closed;
    expect(/<stream:error[^>]*><([a-z-]+)/.exec(frames.find((f) => f.startsWith('<stream:error')) ?? '')?.[1]).to.equal('policy-violation');
  });

  it('over WebSocket, ends a stream that sends an undeclared prefix with not-well-formed', async () => {
    expect(await webSocketError(`<message xmlns='jabber:client' ${to}><foo:x/></message>`)).to.equal('not-well-formed');
  });

  it('over WebSocket, ends a stream that sends a raw U+FFFE with not-well-formed', async () => {
    expect(await webSocketError(`<message xmlns='jabber:client' ${to}><body>\uFFFE</body></message>`)).to.equal('not-well-formed');
  });

  it('ignores plaintext sent after <starttls/> before the handshake: it is never read as if it came over TLS', async () => {
    const w = await Wire.connect(port);
    w.write(HEADER);
    await w.until((e) => e.name === 'stream:features', 'features');
    // A man in the middle appends a stream and a login of its own to the client's <starttls/>, and half a character.
    w.write(Buffer.concat([Buffer.from(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + HEADER + PLAIN('mallory')), Buffer.from([0xe2, 0x82])]));
    await w.until((e) => e.name === 'proceed', 'proceed');
    await w.startTls();
    w.write(HEADER);
    const features = await w.until((e) => e.name === 'stream:features', 'features');
    expect(features.getChild('mechanisms'), 'not yet authenticated: SASL is offered').to.not.equal(undefined);
    w.write(PLAIN('alice'));
    await w.until((e) => e.name === 'success' || e.name === 'failure', 'SASL outcome');
    w.restart();
    w.write(HEADER);
    await w.until((e) => e.name === 'stream:features', 'features');
    w.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    const jid = (await w.until((e) => e.attrs.id === 'b', 'bind result')).getChild('bind')?.getChildText('jid');
    expect(jid).to.match(/^alice@localhost\//);
    w.destroy();
  });
});
