import { expect } from 'chai';
import { eventually } from '../../testing/eventually.js';
import { RawS2s } from '../../testing/raw-s2s.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';

const chat = (id: string): string => `<message from='bob@b.test/r' to='alice@a.test/r' type='chat' id='${id}'><body>${id}</body></message>`;

/**
 * RFC 6120 §4.4: the party that closes a stream keeps processing what the
 * other still sends until that one closes too, and a closing tag ends a
 * stream after what came before it. A peer counts its stanzas as delivered
 * once written: any dropped here are lost with no error to their senders.
 */
describe('s2s: closing a stream loses no stanza (RFC 6120 §4.4)', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  async function peerOf(idleTimeoutSeconds = 600) {
    const a = await env.start('a.test', { idleTimeoutSeconds });
    const alice = await login(a, 'alice@a.test/r');
    const raw = await RawS2s.authenticated({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    return { alice, raw };
  }

  it('handles every stanza that arrives together with the peer closing tag', async () => {
    const { alice, raw } = await peerOf();
    try {
      raw.write(chat('c1') + chat('c2') + chat('c3') + '</stream:stream>');
      await alice.waitFor((st) => st.attrs.id === 'c3', 5000);
      expect(alice.all((st) => st.name === 'message').map((st) => st.attrs.id)).to.deep.equal(['c1', 'c2', 'c3']);
      await raw.until(/<\/stream:stream>/);
    } finally {
      raw.close();
    }
  });

  it('after closing an idle stream, still handles what the peer sent before it saw the closing tag', async () => {
    const { alice, raw } = await peerOf(1);
    try {
      await raw.until(/<\/stream:stream>/, 5000);
      // Written by the peer before our closing tag reached it.
      raw.write(chat('in-flight'));
      await alice.waitFor((st) => st.attrs.id === 'in-flight', 3000);
      raw.write('</stream:stream>');
      await eventually(() => expect(raw.closed).to.equal(true), 3000);
    } finally {
      raw.close();
    }
  });
});
