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

  it('stops reading from a peer that sends faster than its stanzas are handled, and loses none once handling catches up', async () => {
    const a = await env.start('a.test');
    const alice = await login(a, 'alice@a.test/r');
    const router = a.server.router;
    const route = router.route.bind(router);
    let release = (): void => undefined;
    const handlingResumes = new Promise<void>((r) => (release = r));
    router.route = async (...args: Parameters<typeof route>) => {
      await handlingResumes;
      return route(...args);
    };
    const raw = await RawS2s.authenticated({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    try {
      const body = 'x'.repeat(16 * 1024);
      const count = 2000; // 32 MiB, far more than the TCP buffers between the two hold
      for (let i = 0; i < count; i++) raw.write(`<message from='bob@b.test/r' to='alice@a.test/r' type='chat' id='f${i}'><body>${body}</body></message>`);
      await new Promise((r) => setTimeout(r, 3000));
      expect(raw.unsent, 'most of the flood is still with the peer: the server stopped reading').to.be.greaterThan((count * body.length) / 4);
      release();
      await alice.waitFor((st) => st.attrs.id === `f${count - 1}`, 20_000);
      expect(alice.all((st) => st.name === 'message')).to.have.length(count);
    } finally {
      release();
      raw.close();
    }
  });
});
