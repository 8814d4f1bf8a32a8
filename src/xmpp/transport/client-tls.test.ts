import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import type { Sori } from '../../sori.js';
import { RawClient } from '../../testing/raw-client.js';
import { startTestSori } from '../../testing/test-sori.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { loadRustls, TLS_CLOSED, TLS_FAILED, TLS_HANDSHAKE_DONE, TLS_PLAIN, TLS_SEND, type Addon } from './rustls.js';

const channelBindings = (features: XmlElement): string[] =>
  (features.getChild('sasl-channel-binding', 'urn:xmpp:sasl-cb:0')?.getChildren('channel-binding') ?? []).map((c) => c.attrs.type!);
const mechanisms = (features: XmlElement): string[] => (features.getChild('mechanisms')?.getChildren('mechanism') ?? []).map((m) => m.getText());

describe('the rustls addon (native/tls)', () => {
  it('is built: client TLS runs on it by default', () => {
    const addon = loadRustls();
    // A string says why it is missing and how to build it.
    expect(addon, typeof addon === 'string' ? addon : '').to.not.be.a('string');
  });

  it('reports what a read found with the bits rustls.ts reads', () => {
    const addon = loadRustls() as Addon;
    expect([addon.PLAIN, addon.SEND, addon.HANDSHAKE_DONE, addon.CLOSED, addon.FAILED]).to.deep.equal([TLS_PLAIN, TLS_SEND, TLS_HANDSHAKE_DONE, TLS_CLOSED, TLS_FAILED]);
  });
});

// Both engines client connections can run on (tls.engine), with the same expectations but for TLS 1.2's tls-unique.
for (const engine of ['rustls', 'node'] as const) {
  describe(`client TLS on ${engine} (tls.engine)`, function () {
    this.timeout(20_000);
    let sori: Sori;
    let port: number;
    let directPort: number;
    const open: RawClient[] = [];
    const client = async (p: Promise<RawClient>): Promise<RawClient> => {
      const c = await p;
      open.push(c);
      return c;
    };

    before(async () => {
      sori = await startTestSori({ tls: { engine }, c2s: { directTlsPort: 5223 } });
      port = sori.listening.ports.c2s!;
      directPort = sori.listening.ports['c2s-tls']!;
      for (const user of ['alice', 'bob']) await sori.server.createAccount(parseJid(`${user}@localhost`), 'secret');
    });
    afterEach(() => {
      for (const c of open.splice(0)) c.destroy();
    });
    after(() => sori?.stop());

    async function bind(c: RawClient, resource: string): Promise<void> {
      c.open();
      await c.features();
      c.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
      expect((await c.next((e) => e.attrs.id === 'bind')).attrs.type).to.equal('result');
    }

    it('logs in over STARTTLS with SCRAM-SHA-256-PLUS bound to the channel (tls-exporter) and carries a 200 KB message intact', async () => {
      const alice = await client(RawClient.connect(port));
      await alice.startTls();
      expect(alice.tlsSocket.getProtocol()).to.equal('TLSv1.3');
      alice.open();
      const features = await alice.features();
      expect(mechanisms(features)).to.include('SCRAM-SHA-256-PLUS');
      expect(channelBindings(features)).to.include.members(['tls-exporter', 'tls-server-end-point']);
      const data = alice.tlsSocket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
      expect((await alice.scram('alice', 'secret', 'SCRAM-SHA-256-PLUS', { type: 'tls-exporter', data })).name).to.equal('success');
      await bind(alice, 'phone');
      const bob = await client(RawClient.connect(port));
      await bob.login('bob', 'secret', 'laptop');
      // Larger than any TLS record (16 KiB) and than one socket read: many records each way.
      const body = 'éa'.repeat(100_000);
      alice.write(`<message to='bob@localhost/laptop' type='chat' id='big'><body>${body}</body></message>`);
      const got = await bob.next((e) => e.name === 'message' && e.attrs.id === 'big');
      expect(got.getChildText('body')).to.equal(body);
      expect(got.attrs.from).to.equal('alice@localhost/phone');
    });

    it('refuses SCRAM-PLUS whose binding data is not this channel\'s', async () => {
      const c = await client(RawClient.connect(port));
      await c.startTls();
      c.open();
      await c.features();
      const wrong = Buffer.alloc(32, 7);
      expect((await c.scram('alice', 'secret', 'SCRAM-SHA-256-PLUS', { type: 'tls-exporter', data: wrong })).name).to.equal('failure');
    });

    it('on TLS 1.2 binds SCRAM-SHA-256-PLUS to the server certificate (tls-server-end-point)', async () => {
      const c = await client(RawClient.connect(port));
      await c.startTls({ maxVersion: 'TLSv1.2' });
      expect(c.tlsSocket.getProtocol()).to.equal('TLSv1.2');
      c.open();
      const offered = channelBindings(await c.features());
      expect(offered).to.include('tls-server-end-point').and.not.include('tls-exporter');
      // rustls does not expose the Finished messages tls-unique is made of, so it is not offered there.
      if (engine === 'rustls') expect(offered).to.not.include('tls-unique');
      else expect(offered).to.include('tls-unique');
      const data = createHash('sha256').update(c.tlsSocket.getPeerX509Certificate()!.raw).digest();
      expect((await c.scram('alice', 'secret', 'SCRAM-SHA-256-PLUS', { type: 'tls-server-end-point', data })).name).to.equal('success');
    });

    it('speaks direct TLS (XEP-0368), choosing ALPN xmpp-client, with no STARTTLS offered', async () => {
      const c = await client(RawClient.connect(directPort, { tls: true, tlsOptions: { ALPNProtocols: ['xmpp-client'] } }));
      expect(c.tlsSocket.alpnProtocol).to.equal('xmpp-client');
      c.open();
      const features = await c.features();
      expect(features.getChild('starttls')).to.equal(undefined);
      expect(mechanisms(features)).to.include('PLAIN');
      expect((await c.scram('bob', 'secret', 'SCRAM-SHA-1')).name).to.equal('success');
      await bind(c, 'direct');
    });

    it('closes a connection that sends garbage instead of a TLS handshake, and keeps serving others', async () => {
      const raw = netConnect({ port, host: '127.0.0.1' });
      raw.on('error', () => {});
      await new Promise((resolve) => raw.once('connect', resolve));
      const closed = new Promise((resolve) => raw.once('close', resolve));
      let text = '';
      raw.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.includes('<proceed')) raw.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(20));
      });
      raw.write("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
      raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      await closed;
      const c = await client(RawClient.connect(port));
      expect(await c.login('alice', 'secret', 'after')).to.equal('alice@localhost/after');
    });
  });
}
