import { expect } from 'chai';
import { createServer, type Socket } from 'node:net';
import { eventually } from '../../testing/eventually.js';
import { RawS2s } from '../../testing/raw-s2s.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';

const streamError = (condition: string): RegExp => new RegExp(`<${condition} xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']`);

/** What one peer connection can hold of this server: time, sockets, memory. */
describe('s2s: limits on inbound streams', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it('tells the peer its limits (XEP-0478) once the stream is encrypted and again after SASL EXTERNAL: s2s.maxStanzaSize and s2s.idleTimeoutSeconds', async () => {
    const a = await env.start('a.test', { maxStanzaSize: 2048, idleTimeoutSeconds: 45 });
    const limits = /<limits xmlns=["']urn:xmpp:stream-limits:0["']><max-bytes>2048<\/max-bytes><idle-seconds>45<\/idle-seconds><\/limits>/;
    const raw = await RawS2s.open({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    try {
      // The features a peer authenticating by dialback sees last before its stanzas: no restart follows.
      expect(raw.received).to.match(/<dialback xmlns=["']urn:xmpp:features:dialback["']/).and.to.match(limits);
      raw.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`);
      await raw.until(/<success/);
      raw.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='b.test' to='a.test' version='1.0'>`);
      const [restarted] = await raw.until(/<success[\s\S]*<stream:features[\s\S]*?(<\/stream:features>|<stream:features\/>)/);
      expect(restarted).to.match(limits);
    } finally {
      raw.close();
    }
  });

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

  it('opens at most 10 connections to verify dialback requests waiting on one stream, and answers the rest with a policy-violation dialback error (XEP-0220 §2.4)', async () => {
    // Where every claimed domain's authoritative server is said to be: it takes connections and never answers.
    const connections: Socket[] = [];
    const authoritative = createServer((socket) => {
      socket.on('error', () => undefined);
      connections.push(socket);
    });
    await new Promise<void>((r) => authoritative.listen(0, '127.0.0.1', r));
    const route = `127.0.0.1:${(authoritative.address() as { port: number }).port}`;
    const claimed = Array.from({ length: 30 }, (_, i) => `d${i}.example`);
    try {
      const a = await env.start('a.test', { hosts: Object.fromEntries(claimed.map((d) => [d, route])) });
      const raw = await RawS2s.open({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'd0.example', to: 'a.test' });
      try {
        for (const d of claimed) raw.write(`<db:result from='${d}' to='a.test'>${'ab'.repeat(32)}</db:result>`);
        await new Promise((r) => setTimeout(r, 1000));
        expect(connections.length, 'connections opened to verify the claims').to.equal(10);
        const answers = (): RegExpMatchArray[] => [...raw.received.matchAll(/<db:result\b([^>]*)>([\s\S]*?)<\/db:result>/g)];
        await eventually(() => expect(answers()).to.have.length(20), 5000);
        const refused = answers();
        expect(refused).to.have.length(20);
        for (const [, attrs, body] of refused) {
          expect(attrs).to.match(/type=["']error["']/).and.to.match(/from=["']a\.test["']/);
          expect(body).to.match(/<error type=["']wait["']><policy-violation xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']\/><\/error>/);
        }
        expect(raw.closed, 'a dialback error does not close the stream').to.equal(false);
      } finally {
        raw.close();
      }
    } finally {
      for (const c of connections) c.destroy();
      authoritative.close();
    }
  });
});
