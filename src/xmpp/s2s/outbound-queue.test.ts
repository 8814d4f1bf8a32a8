import { expect } from 'chai';
import { createServer } from 'node:net';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';

/**
 * What waits for a peer that never gets ready: a bounded queue, and an error
 * back to the sender for each stanza that can take one (RFC 6120 §8.3.1:
 * never for an error, §8.2.3: never for an iq result).
 */
describe('s2s: the outbound queue while a peer is not ready', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  after(() => env.dispose());

  it('bounces what exceeds s2s.maxQueue at once (resource-constraint), the rest after the timeout, and never an error or an iq result', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${port}` }, maxQueue: 4, connectTimeoutSeconds: 2 });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='q1'><body>1</body></message>`);
      await alice.send(`<iq to='bob@b.test/r' type='result' id='q-result'/>`);
      await alice.send(`<message to='bob@b.test/r' type='error' id='q-error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`);
      await alice.send(`<message to='bob@b.test' type='chat' id='q2'><body>2</body></message>`);
      await alice.send(`<message to='bob@b.test' type='chat' id='q3'><body>3</body></message>`);
      const overflow = await alice.waitFor((st) => st.attrs.id === 'q3', 1000);
      expect(overflow.getChild('error')!.getChild('resource-constraint'), overflow.toString()).to.not.equal(undefined);
      await alice.waitFor((st) => st.attrs.id === 'q2', 5000);
      await new Promise((r) => setTimeout(r, 200));
      const bounced = alice.all(() => true).map((st) => [st.attrs.id, st.attrs.type, st.getChild('error')?.elements()[0]?.name]);
      expect(bounced).to.deep.equal([
        ['q3', 'error', 'resource-constraint'],
        ['q1', 'error', 'remote-server-timeout'],
        ['q2', 'error', 'remote-server-timeout'],
      ]);
    } finally {
      silent.close();
    }
  });
});
