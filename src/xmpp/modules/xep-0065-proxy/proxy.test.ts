import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { parseXml } from '../../../testing/parse-xml.js';
import disco from '../xep-0030-disco/index.js';
import roster from '../rfc6121-roster/index.js';
import proxy65, { NS_BYTESTREAMS, streamDigest } from './index.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function condition(iq: XmlElement): string | undefined {
  expect(iq.attrs.type, iq.toString()).to.equal('error');
  return iq.getChild('error')?.elements().find((e) => e.attrs.xmlns === STANZAS)?.name;
}

/** A raw TCP connection to the proxy that reads exactly what the test asks for. */
class RawSocket {
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawSocket> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawSocket(socket);
  }

  /** `n` bytes, or fewer if the proxy ends the connection first. */
  async read(n: number, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < n && !this.ended) {
      if (Date.now() > deadline) throw new Error(`read ${this.buffered.length} of ${n} bytes within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(out.length);
    return out;
  }

  /** Everything until the proxy ends the connection. */
  async readToEnd(timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`the connection did not end within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.read(this.buffered.length);
  }

  /** Bytes received and not read yet. */
  get available(): number {
    return this.buffered.length;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Greets without authentication and sends CONNECT for `digest`; the proxy's CONNECT reply. */
  async connectTo(digest: string): Promise<Buffer> {
    this.socket.write(Buffer.from([5, 1, 0]));
    expect([...(await this.read(2))]).to.deep.equal([5, 0]);
    const addr = Buffer.from(digest, 'latin1');
    this.socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, addr.length]), addr, Buffer.from([0, 0])]));
    return this.read(5 + addr.length + 2);
  }
}

const succeeded = (digest: string): number[] => [5, 0, 0, 3, 40, ...Buffer.from(digest, 'latin1'), 0, 0];

describe('XEP-0065 SOCKS5 bytestreams proxy', function () {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let port: number;
  const sockets: RawSocket[] = [];
  const open = async (): Promise<RawSocket> => {
    const s = await RawSocket.open(port);
    sockets.push(s);
    return s;
  };
  const activate = (client: TestClient, sid: string, target: string): Promise<XmlElement> =>
    client.iq(`<iq type='set' to='proxy.localhost'><query xmlns='${NS_BYTESTREAMS}' sid='${sid}'><activate>${target}</activate></query></iq>`);

  async function startProxy(options: Record<string, unknown> = {}): Promise<void> {
    ts = await TestServer.start([roster, disco, proxy65], { modules: { enabled: ['proxy65'], options: { proxy65: { port: 0, pendingSeconds: 1, ...options } } } });
    alice = await ts.login('alice@localhost/laptop');
    bob = await ts.login('bob@localhost/phone');
    const host = await alice.iq(`<iq type='get' to='proxy.localhost'><query xmlns='${NS_BYTESTREAMS}'/></iq>`);
    port = Number(host.getChild('query')!.getChild('streamhost')!.attrs.port);
  }
  /** Two connections for one stream from Alice to Bob, activated. */
  async function activatedStream(sid: string): Promise<{ initiator: RawSocket; target: RawSocket }> {
    const digest = streamDigest(sid, 'alice@localhost/laptop', 'bob@localhost/phone');
    const target = await open();
    expect([...(await target.connectTo(digest))]).to.deep.equal(succeeded(digest));
    const initiator = await open();
    expect([...(await initiator.connectTo(digest))]).to.deep.equal(succeeded(digest));
    expect((await activate(alice, sid, 'bob@localhost/phone')).attrs.type).to.equal('result');
    return { initiator, target };
  }

  beforeEach(async function () {
    await startProxy();
  });
  afterEach(async function () {
    for (const s of sockets.splice(0)) s.socket.destroy();
    await ts.stop();
  });

  it('is listed in the server\'s disco#items, answers as a bytestreams proxy, and tells its accounts where to connect', async function () {
    const items = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.include('proxy.localhost');
    const info = await alice.iq(`<iq type='get' to='proxy.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChild('identity')!.attrs).to.include({ category: 'proxy', type: 'bytestreams' });
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_BYTESTREAMS);
    const host = await alice.iq(`<iq type='get' to='proxy.localhost'><query xmlns='${NS_BYTESTREAMS}'/></iq>`);
    expect(host.getChild('query')!.getChild('streamhost')!.attrs).to.include({ jid: 'proxy.localhost', host: '127.0.0.1' });
    expect(port).to.be.above(0);
  });

  it('refuses accounts of other servers (forbidden)', async function () {
    const replies: XmlElement[] = [];
    const route = ts.server.route.bind(ts.server);
    ts.server.route = (stanza, origin) => {
      if (stanza.attrs.to === 'mallory@elsewhere.example/x') {
        replies.push(stanza);
        return Promise.resolve();
      }
      return route(stanza, origin);
    };
    await route(parseXml(`<iq type='get' id='s1' from='mallory@elsewhere.example/x' to='proxy.localhost'><query xmlns='${NS_BYTESTREAMS}'/></iq>`));
    expect(replies).to.have.length(1);
    expect(condition(replies[0]!)).to.equal('forbidden');
  });

  it('joins the target\'s and the initiator\'s connections once the initiator activates, and relays both ways to the end', async function () {
    const { initiator, target } = await activatedStream('vxf9n471bn46');
    target.socket.write('ready');
    expect((await initiator.read(5)).toString()).to.equal('ready');
    const file = Buffer.alloc(256 * 1024);
    for (let i = 0; i < file.length; i++) file[i] = (i * 7) & 0xff;
    initiator.socket.end(file);
    const received = await target.readToEnd();
    expect(received.length).to.equal(file.length);
    expect(received.equals(file)).to.equal(true);
  });

  it('refuses to activate a stream that is not the sender\'s (item-not-found), or has one side only (not-allowed)', async function () {
    const sid = 'abc';
    const digest = streamDigest(sid, 'alice@localhost/laptop', 'bob@localhost/phone');
    expect(condition(await activate(alice, sid, 'bob@localhost/phone'))).to.equal('item-not-found');
    const target = await open();
    await target.connectTo(digest);
    expect(condition(await activate(alice, sid, 'bob@localhost/phone'))).to.equal('not-allowed');
    const initiator = await open();
    await initiator.connectTo(digest);
    // Bob knows the sid and both JIDs, but the digest is computed with the sender as initiator.
    expect(condition(await activate(bob, sid, 'bob@localhost/phone'))).to.equal('item-not-found');
    expect(condition(await alice.iq(`<iq type='set' to='proxy.localhost'><query xmlns='${NS_BYTESTREAMS}'><activate>bob@localhost/phone</activate></query></iq>`))).to.equal('bad-request');
    expect((await activate(alice, sid, 'bob@localhost/phone')).attrs.type).to.equal('result');
    expect(condition(await activate(alice, sid, 'bob@localhost/phone'))).to.equal('item-not-found');
  });

  it('refuses a third connection to a stream, clients that want authentication, and other SOCKS requests', async function () {
    const digest = streamDigest('s', 'alice@localhost/laptop', 'bob@localhost/phone');
    await (await open()).connectTo(digest);
    await (await open()).connectTo(digest);
    const third = await open();
    expect((await third.connectTo(digest))[1]).to.equal(0x02);
    await third.readToEnd();

    const wantsPassword = await open();
    wantsPassword.socket.write(Buffer.from([5, 1, 2]));
    expect([...(await wantsPassword.read(2))]).to.deep.equal([5, 0xff]);
    await wantsPassword.readToEnd();

    const ipv4 = await open();
    ipv4.socket.write(Buffer.from([5, 1, 0]));
    await ipv4.read(2);
    ipv4.socket.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 80]));
    expect((await ipv4.read(2))[1]).to.equal(0x08);
    await ipv4.readToEnd();

    const notADigest = await open();
    expect((await notADigest.connectTo('example.org'))[1]).to.equal(0x02);
  });

  it('relays no faster than maxBytesPerSecond, and still delivers everything', async function () {
    await ts.stop();
    await startProxy({ maxBytesPerSecond: 32 * 1024 });
    const { initiator, target } = await activatedStream('slow');
    const file = Buffer.alloc(160 * 1024, 7);
    initiator.socket.end(file);
    // A second's allowance plus half a second's: well under all of it, however slow the machine.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(target.available).to.be.below(96 * 1024);
    const received = await target.readToEnd(15000);
    expect(received.length).to.equal(file.length);
  });

  it('closes a connection whose peer or activation does not come within pendingSeconds', async function () {
    const lone = await open();
    await lone.connectTo(streamDigest('late', 'alice@localhost/laptop', 'bob@localhost/phone'));
    const silent = await open();
    await lone.readToEnd(3000);
    await silent.readToEnd(3000);
    expect(lone.closed && silent.closed).to.equal(true);
    expect(condition(await activate(alice, 'late', 'bob@localhost/phone'))).to.equal('item-not-found');
  });
});
