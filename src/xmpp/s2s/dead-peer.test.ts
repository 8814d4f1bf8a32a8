import { expect } from 'chai';
import type { TLSSocket } from 'node:tls';
import { RawS2s } from '../../testing/raw-s2s.js';
import { freePort } from '../../testing/services/child-process.js';
import { login, S2sTestEnv } from '../../testing/s2s-env.js';
import { scriptedS2sPeer, type ScriptedS2sPeer } from '../../testing/scripted-s2s-peer.js';
import type { Pem } from '../../testing/test-ca.js';

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='b.test' to='a.test' id='dead' version='1.0'>`;

/**
 * b.test as a receiving server that negotiates (STARTTLS, SASL EXTERNAL) and
 * then dies. 'silent': without closing, it keeps the connection open, reads
 * what comes and never answers, as a crashed VM or a connection dropped by a
 * NAT looks to the sender. 'reset': its process is killed with our stanzas
 * unread, and the kernel resets the connection.
 */
function deadAfterNegotiation(cert: Pem, how: 'silent' | 'reset' = 'silent'): Promise<ScriptedS2sPeer> {
  const steps = new WeakMap<TLSSocket, number>();
  return scriptedS2sPeer(cert, HEADER, (d, secure, raw) => {
    const step = steps.get(secure) ?? 0;
    if (step === 0 && d.includes('<stream:stream')) {
      steps.set(secure, 1);
      secure.write(HEADER + `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>`);
    } else if (step === 1 && d.includes('<auth')) {
      steps.set(secure, 2);
      secure.write(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
    } else if (step === 2 && d.includes('<stream:stream')) {
      steps.set(secure, 3);
      secure.write(HEADER + `<stream:features/>`);
    } else if (step === 3 && how === 'reset') raw.resetAndDestroy();
    // From here on: silence.
  });
}

/**
 * A peer that dies without closing its connection: our writes still succeed
 * (the kernel buffers them) and TCP only gives up after many minutes. What
 * was written to it meanwhile must come back to its senders (RFC 6120
 * §8.3.3.17), not vanish; XEP-0199 §4.2 pings tell a dead peer from a quiet one.
 */
describe('s2s: a peer that dies without closing the connection', function () {
  this.timeout(30_000);
  const env = new S2sTestEnv();
  afterEach(() => env.stop());
  after(() => env.dispose());

  it('bounces what was written to it with remote-server-timeout once a ping goes unanswered, and connects anew for what follows', async () => {
    const peer = await deadAfterNegotiation(env.pems['b.test']!);
    try {
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${peer.port}` }, pingAfterSeconds: 1, connectTimeoutSeconds: 1 });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='into-the-void'><body>hello?</body></message>`);
      const deadline = Date.now() + 5000;
      while (!peer.received().includes('into-the-void') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(peer.received(), 'the message was written to the peer').to.contain('into-the-void');
      const bounced = await alice.waitFor((st) => st.attrs.id === 'into-the-void', 6000);
      expect(bounced.attrs.type).to.equal('error');
      expect(bounced.getChild('error')!.getChild('remote-server-timeout'), bounced.toString()).to.not.equal(undefined);
      expect(peer.received(), 'the peer was pinged').to.match(/<ping xmlns=["']urn:xmpp:ping["']/);
      expect(a.s2s!.streams().outbound, 'the dead stream is gone').to.deep.equal([]);
      await alice.send(`<message to='bob@b.test' type='chat' id='next'><body>again</body></message>`);
      while (!/id=["']next["']/.test(peer.received()) && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 50));
      expect(a.s2s!.stats.outbound.external, 'a new stream carried the next message').to.equal(2);
    } finally {
      peer.server.close();
    }
  });

  it('keeps a stream whose peer answers the ping, and bounces nothing', async () => {
    const bPort = await freePort();
    const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${bPort}` }, pingAfterSeconds: 1, connectTimeoutSeconds: 1 });
    const b = await env.start('b.test', { port: bPort, hosts: { 'a.test': `127.0.0.1:${a.s2s!.ports.s2s}` } });
    const alice = await login(a, 'alice@a.test/r');
    const bob = await login(b, 'bob@b.test/r');
    let pinged = 0;
    b.server.hooks.add(
      'iq/host',
      (ev) => {
        if (ev.stanza.getChild('ping', 'urn:xmpp:ping') !== undefined) pinged++;
        return false;
      },
      2000,
    );
    await alice.send(`<message to='bob@b.test/r' type='chat' id='heard'><body>hello</body></message>`);
    await bob.waitFor((st) => st.attrs.id === 'heard', 5000);
    // Past the ping and its timeout.
    await new Promise((r) => setTimeout(r, 3500));
    expect(alice.all(() => true).map((st) => st.toString())).to.deep.equal([]);
    expect(a.s2s!.streams().outbound.map((o) => [o.remote, o.ready])).to.deep.equal([['b.test', true]]);
    expect(a.s2s!.stats.outbound.external, 'the first stream is still the one').to.equal(1);
    expect(pinged, 'b.test was pinged once, for the one message').to.equal(1);
  });

  it('takes a ping answer arriving on any inbound stream from the peer, and in a cluster passes one meant for another node to that node', async () => {
    const a = await env.start('a.test');
    const posted: string[][] = [];
    Object.defineProperty(a.server, 'clustered', { value: true });
    a.server.nodePost = async (node, topic, body) => {
      posted.push([node, topic, body]);
      return true;
    };
    const raw = await RawS2s.authenticated({ host: '127.0.0.1', port: a.s2s!.ports.s2s!, from: 'b.test', to: 'a.test', cert: env.pems['b.test']! });
    try {
      const here = a.s2s!.expectPingAnswer(5000);
      const elsewhere = 's2s-ping-000000000000.node-2';
      raw.write(`<iq type='error' from='b.test' to='a.test' id='${here.id}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
      raw.write(`<iq type='result' from='b.test' to='a.test' id='${elsewhere}'/>`);
      expect(await here.answered, 'an error answers too').to.equal(true);
      const deadline = Date.now() + 3000;
      while (posted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(posted).to.deep.equal([['node-2', 's2s/ping-answered', elsewhere]]);
      expect(raw.received, 'answers are not answered').to.not.match(/<iq/);
    } finally {
      raw.close();
    }
  });

  it('bounces what was written since the last answer when the connection is reset without a closing tag', async () => {
    const peer = await deadAfterNegotiation(env.pems['b.test']!, 'reset');
    try {
      // Pinged only after a minute: the reset, not a ping, is what tells.
      const a = await env.start('a.test', { hosts: { 'b.test': `127.0.0.1:${peer.port}` }, pingAfterSeconds: 60 });
      const alice = await login(a, 'alice@a.test/r');
      await alice.send(`<message to='bob@b.test' type='chat' id='unread'><body>hello?</body></message>`);
      const bounced = await alice.waitFor((st) => st.attrs.id === 'unread', 5000);
      expect(bounced.getChild('error')!.getChild('remote-server-timeout'), bounced.toString()).to.not.equal(undefined);
    } finally {
      peer.server.close();
    }
  });
});
