import { expect } from 'chai';
import { RawS2s } from '../../testing/raw-s2s.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';

const streamError = (condition: string): RegExp => new RegExp(`<${condition} xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']`);

/** What one peer connection can hold of this server: time, sockets, memory. */
describe('s2s: limits on inbound streams', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it('closes a stream that authenticates no domain within s2s.connectTimeoutSeconds, even one kept busy with whitespace', async () => {
    const a = await env.start('a.test', { connectTimeoutSeconds: 1 });
    const raw = await RawS2s.open({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test' });
    // Whitespace keepalives reset the idle timer; they authenticate nothing.
    const keepalive = setInterval(() => {
      if (!raw.closed) raw.write(' ');
    }, 200);
    try {
      await raw.until(streamError('connection-timeout'), 5000);
    } finally {
      clearInterval(keepalive);
      raw.close();
    }
  });

  it('keeps an authenticated stream past s2s.connectTimeoutSeconds', async () => {
    const a = await env.start('a.test', { connectTimeoutSeconds: 1 });
    const alice = await login(a, 'alice@a.test/r');
    const raw = await RawS2s.authenticated({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      raw.write(`<message from='bob@b.test/r' to='alice@a.test/r' type='chat' id='later'><body>still here</body></message>`);
      await alice.waitFor((st) => st.attrs.id === 'later', 3000);
      expect(raw.received).to.not.match(streamError('connection-timeout'));
    } finally {
      raw.close();
    }
  });
});
