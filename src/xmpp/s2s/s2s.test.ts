import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config.js';
import { startSori, type Sori } from '../../sori.js';
import { RawS2s } from '../../testing/raw-s2s.js';
import { login } from '../../testing/s2s-env.js';
import { eventually } from '../../testing/eventually.js';
import { freePort } from '../../testing/services/child-process.js';
import { TestCa, type Pem } from '../../testing/test-ca.js';
import { parseJid } from '../../util/jid.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { dialbackKey, dialbackKeyMatches } from './dialback.js';
import { parseStaticRoute, resolveTargets } from './resolve.js';

describe('s2s helpers', () => {
  it('dialback keys follow XEP-0185 (HMAC-SHA256 keyed with SHA256(secret), hex)', () => {
    const key = dialbackKey('s3cr3tf0rd14lb4ck', 'example.net', 'example.com', 'D60000229F');
    const hashedSecret = createHash('sha256').update('s3cr3tf0rd14lb4ck').digest('hex');
    expect(key).to.equal(createHmac('sha256', hashedSecret).update('example.net example.com D60000229F').digest('hex'));
    expect(key).to.not.equal(dialbackKey('s3cr3tf0rd14lb4ck', 'example.com', 'example.net', 'D60000229F'));
    expect(dialbackKeyMatches(key, ` ${key}\n`)).to.equal(true);
    expect(dialbackKeyMatches(key, key.slice(0, -1) + (key.endsWith('0') ? '1' : '0'))).to.equal(false);
  });

  it('parses static routes and prefers them over DNS', async () => {
    expect(parseStaticRoute('127.0.0.2:5269')).to.deep.equal({ host: '127.0.0.2', port: 5269, directTls: false });
    expect(parseStaticRoute('xmpps://[::1]:5270')).to.deep.equal({ host: '::1', port: 5270, directTls: true });
    expect(parseStaticRoute('example.org')).to.deep.equal({ host: 'example.org', port: 5269, directTls: false });
    expect(() => parseStaticRoute('host:99999')).to.throw(/bad s2s route/);
    const none = async (): Promise<never> => {
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    expect(await resolveTargets('a.example', { 'a.example': '10.0.0.1:1234' }, none)).to.deep.equal([{ host: '10.0.0.1', port: 1234, directTls: false }]);
    expect(await resolveTargets('b.example', {}, none)).to.deep.equal([{ host: 'b.example', port: 5269, directTls: false }]);
    const srv = async (name: string) => (name.startsWith('_xmpps') ? [{ name: 'tls.b.example', port: 5270, priority: 10, weight: 0 }] : [{ name: 'plain.b.example', port: 5269, priority: 5, weight: 0 }, { name: 'later.b.example', port: 5269, priority: 10, weight: 0 }]);
    expect(await resolveTargets('b.example', {}, srv)).to.deep.equal([
      { host: 'plain.b.example', port: 5269, directTls: false },
      { host: 'tls.b.example', port: 5270, directTls: true },
      { host: 'later.b.example', port: 5269, directTls: false },
    ]);
    expect(await resolveTargets('c.example', {}, async () => [{ name: '.', port: 0, priority: 0, weight: 0 }])).to.deep.equal([]);
  });
});

/**
 * Two sori processes' worth of servers in this process, federating over
 * loopback: a.test and b.test with static routes to each other.
 */
describe('s2s between two sori servers', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: TestCa;
  const pems: Record<string, Pem> = {};
  const ports: Record<string, number> = {};
  const running: Sori[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sori-s2s-'));
    ca = TestCa.create();
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    for (const d of ['a.test', 'b.test']) {
      pems[d] = ca.issue([d]);
      writeFileSync(join(dir, `${d}.crt`), pems[d]!.cert);
      writeFileSync(join(dir, `${d}.key`), pems[d]!.key);
      ports[d] = await freePort();
      mkdirSync(join(dir, d));
    }
    const ss = TestCa.selfSigned(['a.test']);
    writeFileSync(join(dir, 'self.crt'), ss.cert);
    writeFileSync(join(dir, 'self.key'), ss.key);
  });

  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  async function start(domain: string, other: string, s2s: Record<string, unknown> = {}, tls?: { cert: string; key: string }, storage: Record<string, unknown> = { backend: 'memory' }, store?: MemoryStore): Promise<Sori> {
    const config = loadConfig({
      env: {},
      overrides: {
        server: { hosts: [domain], dataDir: join(dir, domain), logLevel: 'warn' },
        c2s: { port: 0, directTlsPort: 0 },
        websocket: { port: 0, tlsPort: 0 },
        storage,
        tls: tls ?? { cert: join(dir, `${domain}.crt`), key: join(dir, `${domain}.key`) },
        s2s: { enabled: true, port: ports[domain], hosts: { [other]: `127.0.0.1:${ports[other]}` }, ca: [join(dir, 'ca.pem')], ...s2s },
      },
    });
    const sori = await startSori(config, { store });
    running.push(sori);
    return sori;
  }

  it('makes the same dialback keys after a restart on the same store (as on every node of a cluster), without a configured secret', async () => {
    const key = (sori: Sori) => sori.s2s!.dialbackKey('b.test', 'a.test', 'stream-1');
    const first = await start('a.test', 'b.test', {}, undefined, { backend: 'leveldb' });
    const before = key(first);
    await first.stop();
    running.splice(running.indexOf(first), 1);
    const again = await start('a.test', 'b.test', {}, undefined, { backend: 'leveldb' });
    expect(key(again)).to.equal(before);
    // Another server (another store) has a secret of its own.
    const other = await start('b.test', 'a.test');
    expect(other.s2s!.dialbackKey('b.test', 'a.test', 'stream-1')).to.not.equal(before);
  });

  it('authenticates with SASL EXTERNAL when both certificates are trusted, and carries stanzas both ways', async () => {
    const a = await start('a.test', 'b.test');
    const b = await start('b.test', 'a.test');
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    await alice.send(`<message to='bob@b.test/r' type='chat' id='m1'><body>hi bob</body></message>`);
    const got = await bob.waitFor((s) => s.name === 'message' && s.attrs.id === 'm1', 10_000);
    expect(got.attrs.from).to.equal('alice@a.test/r');
    expect(got.attrs.xmlns).to.equal('jabber:client');
    expect(got.getChildText('body')).to.equal('hi bob');
    const reply = await bob.iq(`<iq type='get' to='a.test' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(reply.attrs.type).to.equal('result');
    expect(reply.attrs.from).to.equal('a.test');
    expect(a.s2s!.lastMethod('outbound', 'a.test', 'b.test')).to.equal('external');
    expect(b.s2s!.lastMethod('inbound', 'b.test', 'a.test')).to.equal('external');
    expect(b.s2s!.lastMethod('outbound', 'b.test', 'a.test')).to.equal('external');
  });

  it("answers stanzas from a peer that the store being down keeps it from handling with stanza errors, and keeps the stream for what follows", async () => {
    const store = new MemoryStore();
    const a = await start('a.test', 'b.test');
    const b = await start('b.test', 'a.test', {}, undefined, { backend: 'memory' }, store);
    const alice = await login(a, 'alice@a.test/r');
    await b.server.createAccount(parseJid('bob@b.test'), 'secret');
    const message = (id: string) => `<message to='bob@b.test' type='chat' id='${id}'><body>${id}</body></message>`;
    // The streams are up, and bob has his first message waiting offline.
    await alice.send(message('before'));
    await eventually(async () => expect(await store.range('offline', 'bob@b.test')).to.have.length(1));
    store.failing = new Error('down');
    try {
      // A subscription request the roster cannot take comes first on the same stream.
      await alice.send(`<presence to='bob@b.test' type='subscribe' id='sub'/>`);
      await alice.send(message('lost'));
      const error = await alice.waitFor((s) => s.name === 'message' && s.attrs.id === 'lost', 10_000);
      expect(error.attrs.type).to.equal('error');
      expect(error.getChild('error')!.attrs.type).to.equal('wait');
    } finally {
      store.failing = null;
    }
    await alice.send(message('after'));
    await eventually(async () => expect((await store.range('offline', 'bob@b.test')).map((r) => r.value.includes('>after<'))).to.deep.equal([false, true]));
    expect(b.s2s!.lastMethod('inbound', 'b.test', 'a.test')).to.equal('external');
  });

  it('falls back to dialback when the certificate is not trusted, and keeps per-sender order', async () => {
    // a.test presents a self-signed certificate: b.test cannot use EXTERNAL for it.
    const a = await start('a.test', 'b.test', {}, { cert: join(dir, 'self.crt'), key: join(dir, 'self.key') });
    const b = await start('b.test', 'a.test');
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    for (let i = 0; i < 20; i++) await alice.send(`<message to='bob@b.test/r' type='chat' id='o${i}'><body>${i}</body></message>`);
    await bob.waitFor((s) => s.attrs.id === 'o19', 10_000);
    expect(bob.all((s) => s.name === 'message').map((s) => s.attrs.id)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `o${i}`));
    expect(a.s2s!.lastMethod('outbound', 'a.test', 'b.test')).to.equal('dialback');
    expect(b.s2s!.lastMethod('inbound', 'b.test', 'a.test')).to.equal('dialback');
  });

  it('accepts dialback for several domains on one inbound stream (piggybacking), each verified with its authoritative server', async () => {
    // a.test (secret known to the test) serves a.test and its MUC service conference.a.test; a raw peer
    // claims both on one stream to b.test, which verifies each key by dialback with a.test's server.
    const a = await start('a.test', 'b.test', { dialbackSecret: 'piggyback-secret' }, { cert: join(dir, 'self.crt'), key: join(dir, 'self.key') });
    const b = await start('b.test', 'a.test', { hosts: { 'a.test': `127.0.0.1:${ports['a.test']}`, 'conference.a.test': `127.0.0.1:${ports['a.test']}` } });
    const bob = await login(b, 'bob@b.test/r');
    const raw = await RawS2s.open({ host: '127.0.0.1', port: ports['b.test']!, from: 'a.test', to: 'b.test' });
    try {
      const id = raw.streamId;
      expect(id).to.not.equal('');
      for (const from of ['a.test', 'conference.a.test']) {
        expect(await raw.dialback(from, 'b.test', dialbackKey('piggyback-secret', 'b.test', from, id)), from).to.deep.equal({ type: 'valid', from: 'b.test', to: from });
      }
      expect((await raw.dialback('evil.a.test', 'b.test', dialbackKey('piggyback-secret', 'b.test', 'evil.a.test', id))).type, 'a domain nobody vouches for').to.not.equal('valid');
      raw.write(`<message from='room@conference.a.test/alice' to='bob@b.test/r' type='groupchat' id='p1'><body>from the room</body></message>`);
      raw.write(`<message from='alice@a.test/r' to='bob@b.test/r' type='chat' id='p2'><body>from alice</body></message>`);
      await bob.waitFor((st) => st.attrs.id === 'p2', 10_000);
      expect(bob.all((st) => st.name === 'message').map((st) => st.attrs.from)).to.deep.equal(['room@conference.a.test/alice', 'alice@a.test/r']);
      expect(b.s2s!.lastMethod('inbound', 'b.test', 'conference.a.test')).to.equal('dialback');
      expect(a.s2s!.stats.refused).to.deep.equal({});
      raw.write(`<message from='mallory@evil.a.test' to='bob@b.test/r' type='chat'><body>not authenticated</body></message>`);
      await raw.until(/<invalid-from xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/);
    } finally {
      raw.close();
    }
  });

  it('piggybacks a second local domain (its MUC service) on the stream its host already has to the peer', async () => {
    const a = await start('a.test', 'b.test');
    const b = await start('b.test', 'a.test', { hosts: { 'a.test': `127.0.0.1:${ports['a.test']}`, 'conference.a.test': `127.0.0.1:${ports['a.test']}` } });
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    await alice.send(`<message to='bob@b.test/r' type='chat' id='pb1'><body>first</body></message>`);
    await bob.waitFor((st) => st.attrs.id === 'pb1', 10_000);
    // The MUC service answers bob from conference.a.test: a new pair towards b.test.
    const info = await bob.iq(`<iq type='get' to='conference.a.test' id='pb2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.attrs.type, info.toString()).to.equal('result');
    expect(info.attrs.from).to.equal('conference.a.test');
    const pairs = a.s2s!.streams().outbound.filter((o) => o.remote === 'b.test');
    expect(pairs.map((o) => [o.local, o.ready, o.piggybacked])).to.have.deep.members([['a.test', true, false], ['conference.a.test', true, true]]);
    expect(b.s2s!.lastMethod('inbound', 'b.test', 'a.test')).to.equal('external');
    expect(b.s2s!.lastMethod('inbound', 'b.test', 'conference.a.test')).to.equal('dialback');
    const carrying = b.s2s!.streams().inbound.filter((p) => p.includes('a.test b.test'));
    expect(carrying, 'one inbound stream at b.test carries both domains').to.deep.equal([['a.test b.test', 'conference.a.test b.test']]);
  });

  it('connects with direct TLS (XEP-0368) to an xmpps:// route, and closes idle streams, reconnecting on the next stanza', async () => {
    const directPort = await freePort();
    const a = await start('a.test', 'b.test', { directTlsPort: directPort });
    const b = await start('b.test', 'a.test', { hosts: { 'a.test': `xmpps://127.0.0.1:${directPort}` }, idleTimeoutSeconds: 1 });
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    await bob.send(`<message to='alice@a.test/r' type='chat' id='dt1'><body>over direct TLS</body></message>`);
    expect((await alice.waitFor((st) => st.attrs.id === 'dt1', 10_000)).getChildText('body')).to.equal('over direct TLS');
    expect(b.s2s!.lastMethod('outbound', 'b.test', 'a.test')).to.equal('external');
    expect(b.s2s!.streams().outbound.map((o) => o.remote)).to.deep.equal(['a.test']);
    // Idle for longer than idleTimeoutSeconds: b.test closes its stream.
    const deadline = Date.now() + 5000;
    while (b.s2s!.streams().outbound.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(b.s2s!.streams().outbound, 'the idle stream is closed').to.deep.equal([]);
    await bob.send(`<message to='alice@a.test/r' type='chat' id='dt2'><body>again</body></message>`);
    await alice.waitFor((st) => st.attrs.id === 'dt2', 10_000);
    expect(b.s2s!.stats.outbound.external, 'a second stream was authenticated').to.equal(2);
  });

  it('bounces queued stanzas with remote-server-not-found when the peer cannot be reached', async () => {
    const a = await start('a.test', 'b.test');
    // b.test is not running: the static route points at a closed port.
    const alice = await login(a, 'alice@a.test/r');
    await alice.send(`<message to='bob@b.test' type='chat' id='lost'><body>anyone?</body></message>`);
    const err = await alice.waitFor((s) => s.attrs.id === 'lost', 10_000);
    expect(err.attrs.type).to.equal('error');
    expect(err.attrs.from).to.equal('bob@b.test');
    expect(err.getChild('error')!.getChild('remote-server-not-found')).to.not.equal(undefined);
  });

  it('bounces queued stanzas with remote-server-timeout when the peer accepts the connection but never gets ready', async () => {
    // A peer that accepts TCP and says nothing: the stream can never authenticate.
    const silent = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const a = await start('a.test', 'b.test', { hosts: { 'b.test': `127.0.0.1:${(silent.address() as { port: number }).port}` }, connectTimeoutSeconds: 1 });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='slow1'><body>one</body></message>`);
      await alice.send(`<message to='bob@b.test' type='chat' id='slow2'><body>two</body></message>`);
      const second = await alice.waitFor((st) => st.attrs.id === 'slow2', 10_000);
      const errors = alice.all((st) => st.name === 'message' && st.attrs.type === 'error');
      expect(errors.map((e) => e.attrs.id), 'both queued messages come back, in order').to.deep.equal(['slow1', 'slow2']);
      expect(second.getChild('error')!.getChild('remote-server-timeout')).to.not.equal(undefined);
    } finally {
      silent.close();
    }
  });

  it('bounces with remote-server-timeout (type wait), not remote-server-not-found, when the peer answered but stream negotiation failed (RFC 6120 §8.3.3.17)', async () => {
    // A peer that is there, but ends every stream at once with a stream error.
    const failing = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='b.test' id='x' version='1.0'>`);
        socket.end(`<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
      });
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    try {
      const a = await start('a.test', 'b.test', { hosts: { 'b.test': `127.0.0.1:${(failing.address() as { port: number }).port}` } });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='neg'><body>x</body></message>`);
      const error = (await alice.waitFor((st) => st.attrs.id === 'neg', 10_000)).getChild('error')!;
      expect(error.getChild('remote-server-timeout'), error.toString()).to.not.equal(undefined);
      expect(error.attrs.type).to.equal('wait');
    } finally {
      failing.close();
    }
  });

  it('refuses a stream when requireValidCertificates is set and the peer certificate is not trusted', async () => {
    const a = await start('a.test', 'b.test', {}, { cert: join(dir, 'self.crt'), key: join(dir, 'self.key') });
    await start('b.test', 'a.test', { requireValidCertificates: true });
    const alice = await login(a, 'alice@a.test/r');
    await alice.send(`<message to='bob@b.test' type='chat' id='strict'><body>x</body></message>`);
    const err = await alice.waitFor((s) => s.attrs.id === 'strict', 10_000);
    // The peer is there but cannot be authenticated: no use trying again (RFC 6120 §8.3.3.17).
    expect(err.getChild('error')!.getChild('remote-server-timeout')).to.not.equal(undefined);
    expect(err.getChild('error')!.attrs.type).to.equal('cancel');
  });

  it('sends nothing before TLS, whatever a peer answers before it: a dialback "valid" there does not make the stream ready', async () => {
    let cleartext = '';
    const fake = createServer((socket) => {
      socket.setEncoding('utf8');
      socket.on('error', () => undefined);
      socket.on('data', (d: string) => {
        if (cleartext === '') {
          socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' id='mitm' version='1.0'>`);
          socket.write(`<db:result from='b.test' to='a.test' type='valid'/>`);
        }
        cleartext += d;
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const a = await start('a.test', 'b.test', { hosts: { 'b.test': `127.0.0.1:${(fake.address() as { port: number }).port}` } });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='secret'><body>TOP SECRET</body></message>`);
      const err = await alice.waitFor((st) => st.attrs.id === 'secret', 10_000);
      expect(err.getChild('error')!.getChild('remote-server-timeout')).to.not.equal(undefined);
      expect(cleartext).to.not.contain('TOP SECRET');
    } finally {
      fake.close();
    }
  });

  it('closes a stream whose dialback key the authoritative server calls invalid (XEP-0220 §2.2.1)', async () => {
    await start('a.test', 'b.test', { dialbackSecret: 'the real one' });
    const b = await start('b.test', 'a.test');
    const raw = await RawS2s.open({ host: '127.0.0.1', port: b.s2s!.ports.s2s!, from: 'a.test', to: 'b.test' });
    try {
      expect((await raw.dialback('a.test', 'b.test', 'deadbeef'.repeat(8))).type).to.equal('invalid');
      await eventually(() => expect(raw.closed).to.equal(true), 5000);
    } finally {
      raw.close();
    }
  });
});
