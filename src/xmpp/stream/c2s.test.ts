import { expect } from 'chai';
import { WebSocket } from 'ws';
import type { Sori } from '../../sori.js';
import { RawClient } from '../../testing/raw-client.js';
import { startTestSori } from '../../testing/test-sori.js';
import { parseJid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { StoreUnavailableError } from '../../storage/wide-column.js';

const streamError = (el: XmlElement): string | undefined => (el.name === 'stream:error' ? el.elements()[0]?.name : undefined);

describe('c2s streams over real sockets', function () {
  this.timeout(20000);
  let sori: Sori;
  let store: MemoryStore;
  let port: number;
  let tlsPort: number;
  let wsPort: number;

  before(async () => {
    store = new MemoryStore();
    sori = await startTestSori({ c2s: { maxStanzaSize: 10000, maxLoginFailures: 4, directTlsPort: 5223 } }, { store });
    port = sori.listening.ports.c2s!;
    tlsPort = sori.listening.ports['c2s-tls']!;
    wsPort = sori.listening.ports.ws!;
    await sori.server.createAccount(parseJid('alice@localhost'), 'secret');
    await sori.server.createAccount(parseJid('bob@localhost'), 'secret');
  });
  after(() => sori.stop());

  it('offers only STARTTLS (required) before TLS and refuses auth in the clear', async () => {
    const c = await RawClient.connect(port);
    c.open();
    const f = await c.features();
    expect(f.getChild('starttls')!.getChild('required')).to.not.equal(undefined);
    expect(f.getChild('mechanisms')).to.equal(undefined);
    c.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>");
    const fail = await c.next((e) => e.name === 'failure');
    expect(fail.getChild('encryption-required')).to.not.equal(undefined);
    c.destroy();
  });

  it('after STARTTLS offers SCRAM with -PLUS and PLAIN, and logs in with SCRAM-SHA-1', async () => {
    const c = await RawClient.connect(port);
    await c.startTls();
    c.open();
    const f = await c.features();
    const mechs = f.getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText());
    expect(mechs).to.include.members(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'PLAIN']);
    // SASL2 (XEP-0388) is off unless c2s.sasl2 is set.
    expect(f.getChild('authentication', 'urn:xmpp:sasl:2')).to.equal(undefined);
    const r = await c.scram('alice', 'secret');
    expect(r.name).to.equal('success');
    c.destroy();
  });

  it('logs in whatever case the username is typed in (RFC 7622 case mapping), and counts guesses in any case against one account', async () => {
    const c = await RawClient.connect(port);
    expect(await c.login('Alice', 'secret')).to.equal('alice@localhost/raw');
    c.destroy();
    const plain = await RawClient.connect(tlsPort, { tls: true });
    plain.open();
    await plain.features();
    plain.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0ALICE\0secret').toString('base64')}</auth>`);
    expect((await plain.next((e) => e.name === 'success' || e.name === 'failure')).name).to.equal('success');
    plain.destroy();
    // Five wrong guesses, each in another case, from addresses the throttle has forgotten: one account's count.
    for (const name of ['BOB', 'Bob', 'bOb', 'boB', 'BOb']) {
      sori.server.throttle.succeed('ip:127.0.0.1');
      const g = await RawClient.connect(tlsPort, { tls: true });
      g.open();
      await g.features();
      await g.scram(name, 'wrong');
      g.destroy();
    }
    sori.server.throttle.succeed('ip:127.0.0.1');
    const right = await RawClient.connect(tlsPort, { tls: true });
    right.open();
    await right.features();
    expect((await right.scram('bob', 'secret')).getChild('temporary-auth-failure')).to.not.equal(undefined);
    right.destroy();
    sori.server.throttle.succeed('ip:127.0.0.1');
    sori.server.throttle.succeed('user:bob@localhost');
  });

  it('answers an <auth/> without an initial response with an empty challenge, and takes the credentials in <response/> (§6.4.2)', async () => {
    const c = await RawClient.connect(port);
    await c.startTls();
    c.open();
    await c.features();
    c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>`);
    const challenge = await c.next((e) => e.name === 'challenge' || e.name === 'failure');
    expect([challenge.name, challenge.getText()]).to.deep.equal(['challenge', '']);
    c.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from('\0alice\0secret').toString('base64')}</response>`);
    expect((await c.next((e) => e.name === 'success' || e.name === 'failure')).name).to.equal('success');
    c.destroy();
  });

  it('binds SCRAM-SHA-256-PLUS to the TLS channel (tls-exporter)', async () => {
    const c = await RawClient.connect(tlsPort, { tls: true });
    c.open();
    await c.features();
    const data = c.tlsSocket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
    const r = await c.scram('alice', 'secret', 'SCRAM-SHA-256-PLUS', { type: 'tls-exporter', data });
    expect(r.name).to.equal('success');
    c.destroy();
  });

  it('answers a wrong password with not-authorized and throttles repeated failures', async () => {
    const c = await RawClient.connect(tlsPort, { tls: true });
    c.open();
    await c.features();
    const r = await c.scram('bob', 'wrong');
    expect(r.name).to.equal('failure');
    expect(r.getChild('not-authorized')).to.not.equal(undefined);
    c.destroy();
    // Keep guessing from the same address: after the limit even the right password is refused for now.
    for (let i = 0; i < 4; i++) {
      const g = await RawClient.connect(tlsPort, { tls: true });
      g.open();
      await g.features();
      await g.scram('bob', 'wrong' + i);
      g.destroy();
    }
    const last = await RawClient.connect(tlsPort, { tls: true });
    last.open();
    await last.features();
    const blocked = await last.scram('bob', 'secret');
    expect(blocked.getChild('temporary-auth-failure')).to.not.equal(undefined);
    last.destroy();
    // From a fresh address (the address's own count forgotten) the account stays locked, and a wrong
    // guess is answered exactly as the right one: the lock must not tell a guesser it has found it.
    const answers: string[] = [];
    for (const password of ['still-wrong', 'secret']) {
      sori.server.throttle.succeed('ip:127.0.0.1');
      const guess = await RawClient.connect(tlsPort, { tls: true });
      guess.open();
      await guess.features();
      answers.push((await guess.scram('bob', password)).elements()[0]!.name);
      guess.destroy();
    }
    expect(answers).to.deep.equal(['temporary-auth-failure', 'temporary-auth-failure']);
    sori.server.throttle.succeed('ip:127.0.0.1');
    sori.server.throttle.succeed('user:bob@localhost');
  });

  it('does not count a malformed exchange against the address: a client that asks for an unsupported binding on every login keeps logging in', async () => {
    // slixmpp asks for tls-unique channel binding (TLS 1.3 has none), is refused as malformed, then falls back.
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(tlsPort, { tls: true });
      c.open();
      await c.features();
      const refused = await c.scram('alice', 'secret', 'SCRAM-SHA-256-PLUS', { type: 'tls-unique', data: Buffer.alloc(12) });
      expect(refused.getChild('malformed-request')).to.not.equal(undefined);
      const ok = await c.scram('alice', 'secret', 'SCRAM-SHA-256');
      expect(ok.name, ok.toString()).to.equal('success');
      c.destroy();
    }
  });

  it('answers logins with temporary-auth-failure while the store is down, and recovers', async () => {
    store.failing = new StoreUnavailableError('store down');
    try {
      const c = await RawClient.connect(tlsPort, { tls: true });
      c.open();
      await c.features();
      const r = await c.scram('alice', 'secret');
      expect(r.getChild('temporary-auth-failure')).to.not.equal(undefined);
      c.destroy();
    } finally {
      store.failing = null;
    }
    const ok = await RawClient.connect(port);
    expect(await ok.login('alice', 'secret', 'after-outage')).to.equal('alice@localhost/after-outage');
    ok.destroy();
  });

  it('keeps running when clients close or drop their streams while the store is down', async () => {
    // Node ends the process on an unhandled rejection: one would take every other session with it.
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const closing = await RawClient.connect(port);
      await closing.login('alice', 'secret', 'closing');
      const dropping = await RawClient.connect(port);
      await dropping.login('bob', 'secret', 'dropping');
      // Available, so that leaving broadcasts unavailable to the roster; the ping answered means the presence was handled.
      for (const c of [closing, dropping]) {
        c.write("<presence/><iq type='get' id='avail'><ping xmlns='urn:xmpp:ping'/></iq>");
        await c.next((e) => e.attrs.id === 'avail');
      }
      store.failing = new StoreUnavailableError('store down');
      closing.write('</stream:stream>');
      await closing.waitClosed();
      dropping.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).to.deep.equal([]);
    } finally {
      store.failing = null;
      process.off('unhandledRejection', onUnhandled);
    }
    const ok = await RawClient.connect(port);
    expect(await ok.login('alice', 'secret', 'closing')).to.equal('alice@localhost/closing');
    ok.destroy();
  });

  it('closes malformed XML with not-well-formed while other sessions keep working', async () => {
    const alice = await RawClient.connect(port);
    await alice.login('alice', 'secret', 'a');
    const bad = await RawClient.connect(port);
    await bad.login('bob', 'secret', 'bad');
    bad.write('<message><body>oops</message>');
    const err = await bad.next((e) => e.name === 'stream:error');
    expect(streamError(err)).to.equal('not-well-formed');
    await bad.waitClosed();
    alice.write("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    const pong = await alice.next((e) => e.attrs.id === 'p1');
    expect(pong.attrs.type).to.equal('result');
    alice.destroy();
  });

  it('closes an oversized stanza with policy-violation', async () => {
    const c = await RawClient.connect(port);
    await c.login('alice', 'secret', 'big');
    c.write(`<message to='bob@localhost'><body>${'x'.repeat(20000)}</body></message>`);
    expect(streamError(await c.next((e) => e.name === 'stream:error'))).to.equal('policy-violation');
    await c.waitClosed();
  });

  it('refuses DTDs and entity declarations with restricted-xml', async () => {
    const c = await RawClient.connect(port);
    c.write("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY lol 'lol'>]><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    expect(streamError(await c.next((e) => e.name === 'stream:error'))).to.equal('restricted-xml');
    await c.waitClosed();
  });

  it('answers an unknown domain with host-unknown', async () => {
    const c = await RawClient.connect(port);
    c.open('example.org');
    expect(streamError(await c.next((e) => e.name === 'stream:error'))).to.equal('host-unknown');
    await c.waitClosed();
  });

  it('never trusts the client from: a spoofed from ends the stream with invalid-from', async () => {
    const c = await RawClient.connect(port);
    await c.login('alice', 'secret', 'spoof');
    c.write("<message from='bob@localhost/x' to='alice@localhost'><body>hi</body></message>");
    expect(streamError(await c.next((e) => e.name === 'stream:error'))).to.equal('invalid-from');
  });

  it('stamps the full JID on stanzas and answers unknown iq namespaces with service-unavailable', async () => {
    const a = await RawClient.connect(port);
    const jid = await a.login('alice', 'secret', 'stamp');
    const b = await RawClient.connect(port);
    await b.login('bob', 'secret', 'stamp');
    b.write("<presence/>");
    a.write("<message to='bob@localhost/stamp' type='chat'><body>hello</body></message>");
    const m = await b.next((e) => e.name === 'message');
    expect(m.attrs.from).to.equal(jid);
    a.write("<iq type='get' id='u1'><query xmlns='urn:example:unknown'/></iq>");
    const e = await a.next((el) => el.attrs.id === 'u1');
    expect(e.attrs.type).to.equal('error');
    expect(e.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
    a.destroy();
    b.destroy();
  });

  it('replaces a session when the same resource binds again (conflict)', async () => {
    const first = await RawClient.connect(port);
    await first.login('alice', 'secret', 'same');
    const second = await RawClient.connect(port);
    expect(await second.login('alice', 'secret', 'same')).to.equal('alice@localhost/same');
    expect(streamError(await first.next((e) => e.name === 'stream:error'))).to.equal('conflict');
    second.destroy();
  });

  it('closes unknown top-level elements with unsupported-stanza-type', async () => {
    const c = await RawClient.connect(port);
    await c.login('alice', 'secret', 'unk');
    c.write("<foo xmlns='urn:example:bar'/>");
    expect(streamError(await c.next((e) => e.name === 'stream:error'))).to.equal('unsupported-stanza-type');
  });

  it('speaks RFC 7395 over WebSocket: xmpp subprotocol, open/close framing, no STARTTLS', async () => {
    const refused = new WebSocket(`ws://127.0.0.1:${wsPort}/xmpp-websocket`);
    const code = await new Promise<number>((r) => {
      refused.on('close', (c) => r(c));
      refused.on('error', () => r(-1));
    });
    expect(code).to.not.equal(1000);

    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/xmpp-websocket`, 'xmpp');
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    await new Promise((r) => ws.once('open', r));
    ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>");
    while (frames.length < 2) await new Promise((r) => setTimeout(r, 20));
    expect(frames[0]).to.match(/^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/);
    expect(frames[1]).to.include('xmlns:stream="http://etherx.jabber.org/streams"');
    expect(frames[1]).to.not.include('starttls');
    expect(frames[1]).to.include('SCRAM-SHA-1');
    ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    await new Promise((r) => ws.once('close', r));
    expect(frames[frames.length - 1]).to.match(/^<close /);
  });
});

describe('c2s streams while the node stops', function () {
  this.timeout(20000);

  it('turns new streams away with see-other-host during the grace period, then sends it to the sessions it held', async () => {
    const sori = await startTestSori({ server: { shutdownGraceSeconds: 1 }, cluster: { seeOtherHost: 'xmpp2.example.net:5222' } }, { store: new MemoryStore() });
    await sori.server.createAccount(parseJid('alice@localhost'), 'secret');
    const alice = await RawClient.connect(sori.listening.ports.c2s!);
    await alice.login('alice', 'secret');
    const stopped = sori.stop();

    const late = await RawClient.connect(sori.listening.ports.c2s!);
    late.open();
    const refusal = await late.next((e) => e.name === 'stream:error');
    expect(refusal.getChildText('see-other-host', 'urn:ietf:params:xml:ns:xmpp-streams')).to.equal('xmpp2.example.net:5222');
    await late.waitClosed();
    expect(alice.closed, 'a logged-in session stays for the grace period').to.equal(false);
    expect(alice.elements.filter((e) => e.name === 'stream:error')).to.deep.equal([]);

    await stopped;
    const closing = await alice.next((e) => e.name === 'stream:error');
    expect(closing.getChildText('see-other-host', 'urn:ietf:params:xml:ns:xmpp-streams')).to.equal('xmpp2.example.net:5222');
  });
});
