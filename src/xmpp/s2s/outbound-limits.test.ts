import { expect } from 'chai';
import { freePort } from '../../testing/services/child-process.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';
import { scriptedS2sPeer, type ScriptedS2sPeer } from '../../testing/scripted-s2s-peer.js';
import type { Pem } from '../../testing/test-ca.js';
import type { Sori } from '../../sori.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' id='limited' version='1.0'>`;

/**
 * b.test as a receiving server that offers only dialback, with `<limits/>` in
 * the features after STARTTLS (the last a dialback peer sends: no restart
 * follows), takes any key as valid and records what it is sent.
 */
function dialbackPeer(cert: Pem, maxBytes: number): Promise<ScriptedS2sPeer> {
  return scriptedS2sPeer(cert, HEADER, (d, secure) => {
    if (d.includes('<stream:stream')) {
      secure.write(HEADER + `<stream:features><dialback xmlns='urn:xmpp:features:dialback'/><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>${maxBytes}</max-bytes></limits></stream:features>`);
    } else if (d.includes('<db:result')) secure.write(`<db:result from='b.test' to='a.test' type='valid'/>`);
  });
}

/**
 * XEP-0478 on the sending side: b.test advertises `<max-bytes>` (its
 * s2s.maxStanzaSize) in the features of the stream a.test opens to it, and
 * a.test keeps larger stanzas off that stream.
 */
describe('s2s: a peer’s advertised stream limits (XEP-0478) on outbound streams', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  async function pair(maxBytes: number): Promise<{ a: Sori; b: Sori }> {
    const bPort = await freePort();
    const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${bPort}` } });
    const b = await env.start('b.test', { port: bPort, hosts: { 'a.test': `127.0.0.1:${a.s2s!.ports.s2s}` }, maxStanzaSize: maxBytes });
    return { a, b };
  }

  it('returns a stanza over the peer’s max-bytes to its sender with policy-violation, and the stream carries what follows', async () => {
    const { a, b } = await pair(2048);
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    const message = (id: string, body: string, type = 'chat') => `<message to='bob@b.test/r' type='${type}' id='${id}'><body>${body}</body></message>`;
    await alice.send(message('first', 'hi'));
    await bob.waitFor((st) => st.attrs.id === 'first', 10_000);

    await alice.send(message('big', 'x'.repeat(3000)));
    // An error is never answered with an error (RFC 6120 §8.3.1), however large.
    await alice.send(message('big-error', 'x'.repeat(3000), 'error'));
    await alice.send(message('after', 'still there?'));

    const bounced = await alice.waitFor((st) => st.attrs.id === 'big', 10_000);
    expect(bounced.attrs.type).to.equal('error');
    expect(bounced.attrs.from).to.equal('bob@b.test/r');
    const error = bounced.getChild('error')!;
    expect(error.attrs.type).to.equal('modify');
    expect(error.getChild('policy-violation', NS_STANZAS), bounced.toString()).to.not.equal(undefined);
    expect(error.attrs.by, 'the policy is the peer’s, not a.test’s').to.equal(undefined);
    expect(error.getChildText('text', NS_STANZAS)).to.match(/2048/);

    await bob.waitFor((st) => st.attrs.id === 'after', 10_000);
    expect(bob.all((st) => st.attrs.id === 'big' || st.attrs.id === 'big-error')).to.deep.equal([]);
    expect(alice.all((st) => st.attrs.id === 'big-error')).to.deep.equal([]);
    expect(a.s2s!.stats.outbound.external, 'one stream carried everything').to.equal(1);
    expect(b.s2s!.stats.refused, 'b.test had nothing to refuse').to.deep.equal({});
  });

  it('counts UTF-8 bytes, not characters: fewer than max-bytes characters of two bytes each are not sent', async () => {
    const { a, b } = await pair(2048);
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    // 1,100 characters of body, 2,200 bytes.
    await alice.send(`<message to='bob@b.test/r' type='chat' id='accents'><body>${'é'.repeat(1100)}</body></message>`);
    const bounced = await alice.waitFor((st) => st.attrs.id === 'accents', 10_000);
    expect(bounced.getChild('error')!.getChild('policy-violation', NS_STANZAS), bounced.toString()).to.not.equal(undefined);
    await alice.send(`<message to='bob@b.test/r' type='chat' id='short'><body>${'é'.repeat(500)}</body></message>`);
    await bob.waitFor((st) => st.attrs.id === 'short', 10_000);
    expect(bob.all((st) => st.attrs.id === 'accents')).to.deep.equal([]);
  });

  it('takes the limit from the features of a stream authenticated by dialback, where no restart follows them', async () => {
    const peer = await dialbackPeer(env.pems['b.test']!, 1024);
    try {
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${peer.port}` } });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='big'><body>${'x'.repeat(1100)}</body></message>`);
      await alice.send(`<message to='bob@b.test' type='chat' id='small'><body>hi</body></message>`);
      const bounced = await alice.waitFor((st) => st.attrs.id === 'big', 10_000);
      expect(bounced.getChild('error')!.getChild('policy-violation', NS_STANZAS), bounced.toString()).to.not.equal(undefined);
      const deadline = Date.now() + 10_000;
      while (!/id=["']small["']/.test(peer.received()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(peer.received()).to.match(/id=["']small["']/).and.not.to.match(/id=["']big["']/);
      expect(a.s2s!.stats.outbound.dialback).to.equal(1);
    } finally {
      peer.server.close();
    }
  });
});
