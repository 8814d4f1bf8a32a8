import { expect } from 'chai';
import type { TLSSocket } from 'node:tls';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';
import { scriptedS2sPeer, type ScriptedS2sPeer } from '../../testing/scripted-s2s-peer.js';
import type { Pem } from '../../testing/test-ca.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' id='objects' version='1.0'>`;

/**
 * b.test as a receiving server offering dialback after STARTTLS, taking any
 * key as valid; on each connection, once it has read two messages it ends the
 * stream with `condition` and closes it, as a peer does over a stanza it
 * will not take (RFC 6120 §4.9.1.1).
 */
function objectingPeer(cert: Pem, condition: string): Promise<ScriptedS2sPeer> {
  // Per connection: the messages it has read, so that a new stream starts counting again.
  const seen = new WeakMap<TLSSocket, string>();
  return scriptedS2sPeer(cert, HEADER, (d, secure) => {
    const here = (seen.get(secure) ?? '') + d;
    seen.set(secure, here);
    if (d.includes('<stream:stream')) secure.write(HEADER + `<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>`);
    else if (d.includes('<db:result')) secure.write(`<db:result from='b.test' to='a.test' type='valid'/>`);
    const before = here.length - d.length;
    if ((here.match(/<message/g) ?? []).length >= 2 && (here.slice(0, before).match(/<message/g) ?? []).length < 2) {
      secure.end(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>not that</text></stream:error></stream:stream>`);
    }
  });
}

/**
 * A peer ending a ready outbound stream with a stream error handles nothing
 * after the stanza it objected to, and does not say which one that was:
 * what was written since its last answered ping must come back to the
 * senders, not vanish with the stream.
 */
describe('s2s: a peer that ends an outbound stream with a stream error', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it('returns what was written on that stream to its senders with remote-server-timeout, and a new stream carries what follows', async () => {
    const peer = await objectingPeer(env.pems['b.test']!, 'policy-violation');
    try {
      // Pinged only after a minute: nothing written is confirmed read when the error comes.
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${peer.port}` }, pingAfterSeconds: 60 });
      const alice = await login(a, 'alice@a.test/r');
      const carol = await login(a, 'carol@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='from-alice'><body>one</body></message>`);
      await carol.send(`<message to='bob@b.test' type='chat' id='from-carol'><body>two</body></message>`);

      for (const [client, id] of [
        [alice, 'from-alice'],
        [carol, 'from-carol'],
      ] as const) {
        const bounced = await client.waitFor((st) => st.attrs.id === id, 10_000);
        expect(bounced.attrs.type, bounced.toString()).to.equal('error');
        expect(bounced.attrs.from).to.equal('bob@b.test');
        const error = bounced.getChild('error')!;
        expect(error.attrs.type).to.equal('wait');
        expect(error.getChild('remote-server-timeout', NS_STANZAS), bounced.toString()).to.not.equal(undefined);
        expect(error.getChildText('text', NS_STANZAS), 'the sender is told what the peer said').to.match(/policy-violation/);
      }
      expect(peer.received()).to.match(/id=["']from-alice["']/).and.to.match(/id=["']from-carol["']/);

      await alice.send(`<message to='bob@b.test' type='chat' id='after'><body>three</body></message>`);
      const deadline = Date.now() + 10_000;
      while (!/id=["']after["']/.test(peer.received()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(peer.received()).to.match(/id=["']after["']/);
      expect(a.s2s!.stats.outbound.dialback, 'a new stream carried it').to.equal(2);
      expect(alice.all((st) => st.attrs.id === 'after'), 'and it was not bounced').to.deep.equal([]);
    } finally {
      peer.server.close();
    }
  });

  it('never answers an error stanza written on that stream with another', async () => {
    const peer = await objectingPeer(env.pems['b.test']!, 'not-well-formed');
    try {
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${peer.port}` }, pingAfterSeconds: 60 });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='error' id='an-error'><error type='cancel'><item-not-found xmlns='${NS_STANZAS}'/></error></message>`);
      await alice.send(`<message to='bob@b.test' type='chat' id='a-chat'><body>hi</body></message>`);
      const bounced = await alice.waitFor((st) => st.attrs.id === 'a-chat', 10_000);
      expect(bounced.getChild('error')!.getChild('remote-server-timeout', NS_STANZAS), bounced.toString()).to.not.equal(undefined);
      expect(alice.all((st) => st.attrs.id === 'an-error'), 'RFC 6120 §8.3.1').to.deep.equal([]);
    } finally {
      peer.server.close();
    }
  });
});
