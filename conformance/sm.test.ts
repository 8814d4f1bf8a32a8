/**
 * XEP-0198 and XEP-0352 end to end, over real TCP + STARTTLS against a sori
 * process, with @xmpp/client (its built-in stream management enables SM after
 * bind and sends <resume/> on reconnect when it holds a session id).
 *
 * The connection is broken with socket.destroy(): no </stream:stream>, so the
 * server sees a lost connection and hibernates the session.
 */
import { expect } from 'chai';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { startSori, type SoriProcess } from './support/server.js';
import { client as xmppClient } from '@xmpp/client';
import { connectTcp, withTimeout, xml, type Element, type XmppSession } from './support/clients.js';

/** The parts of @xmpp/client 0.14 this test reaches into (not in the shared type stub). */
interface SmInternals {
  streamManagement: EventEmitter & { id: string; enabled: boolean; inbound: number; outbound: number; outbound_q: unknown[] };
  socket: { socket: Socket | null } | null;
  reconnect: { reconnect(): Promise<void> };
  /** Milliseconds @xmpp/connection waits for stream headers and replies (2000 by default: too short on a loaded test machine). */
  timeout: number;
}
const internals = (s: XmppSession) => s.xmpp as unknown as SmInternals;

const NS_CSI = 'urn:xmpp:csi:0';
const bodyOf = (el: Element) => (el.is('message') ? el.getChildText('body') : null);

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Logs in, waits until stream management is enabled with resumption, sends initial presence. */
async function smOnline(server: SoriProcess, account: { username: string; password: string; resource: string }): Promise<XmppSession> {
  const s = await connectTcp(server, account);
  const sm = internals(s).streamManagement;
  await until(() => sm.enabled && sm.id !== '', `stream management enabled for ${account.username}`);
  await s.xmpp.send(xml('presence'));
  return s;
}

/** Breaks the TCP connection without closing the stream. */
function destroySocket(s: XmppSession): void {
  const socket = internals(s).socket?.socket;
  if (!socket) throw new Error('no socket to destroy');
  socket.destroy();
}

describe('XEP-0198 stream management and XEP-0352 CSI end to end (@xmpp/client over STARTTLS)', function () {
  this.timeout(90_000);
  const alice = { username: 'alice', password: 'alice-pw', resource: 'desk' };
  const bob = { username: 'bob', password: 'bob-pw', resource: 'phone' };
  const users = { 'alice@localhost': alice.password, 'bob@localhost': bob.password };
  const open: XmppSession[] = [];
  const keep = (s: XmppSession): XmppSession => (open.push(s), s);
  afterEach(async () => {
    for (const s of open.splice(0)) await s.stop();
  });

  describe('with a long resumption timeout', () => {
    let server: SoriProcess;
    before(async () => {
      server = await startSori({ users });
    });
    after(async () => {
      await server?.stop();
    });

    it('a client whose connection died resumes and receives the 5 messages sent meanwhile exactly once', async () => {
      const a = keep(await connectTcp(server, alice));
      const b = keep(await smOnline(server, bob));
      const sm = internals(b).streamManagement;
      const id = sm.id;
      destroySocket(b);
      await until(() => b.xmpp.status === 'disconnect', 'client noticed its connection is gone');

      for (let i = 1; i <= 5; i++) await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: `m${i}` }, xml('body', {}, `message ${i}`)));

      const resumed = new Promise<void>((ok) => sm.once('resumed', () => ok()));
      internals(b).timeout = 15_000;
      await internals(b).reconnect.reconnect();
      await withTimeout(resumed, 15_000, 'stream resumed');
      expect(sm.id).to.equal(id);

      // A message sent after resumption arrives after the re-sent ones; then nothing else can be in flight.
      await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'after' }, xml('body', {}, 'after resume')));
      await b.waitFor((el) => bodyOf(el) === 'after resume', 15_000, 'the message sent after resumption');
      const bodies = b.received.map(bodyOf).filter((x): x is string => x !== null);
      expect(bodies).to.deep.equal(['message 1', 'message 2', 'message 3', 'message 4', 'message 5', 'after resume']);

      // The server's count matched the client's: the stream is still usable (no handled-count-too-high).
      await b.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), undefined, 10_000);
      expect(b.xmpp.status).to.equal('online');
    });

    it('a <resume/> while the old connection is still open takes the session over and closes the old stream with conflict', async () => {
      const a = keep(await connectTcp(server, alice));
      const b = keep(await smOnline(server, bob));
      const sm = internals(b).streamManagement;
      await a.xmpp.send(xml('message', { to: 'bob@localhost/phone', type: 'chat' }, xml('body', {}, 'before takeover')));
      await b.waitFor((el) => bodyOf(el) === 'before takeover', 10_000, 'first message');
      const oldErrors: string[] = [];
      b.xmpp.on('error', (e: Error & { condition?: string }) => oldErrors.push(e.condition ?? e.message));

      // A second client that knows the session id, as the same app would after a network switch.
      const b2 = xmppClient({ service: `xmpp://${server.host}:${server.port}`, domain: server.domain, username: bob.username, password: bob.password, resource: bob.resource });
      b2.reconnect.stop();
      b2.on('error', () => undefined);
      const received: Element[] = [];
      b2.on('stanza', (el: Element) => received.push(el));
      const sm2 = (b2 as unknown as SmInternals).streamManagement;
      // Its counters continue the old connection's (what the app would have persisted).
      sm2.id = sm.id;
      sm2.inbound = sm.inbound;
      sm2.outbound = sm.outbound;
      sm2.outbound_q = [...sm.outbound_q];
      const resumed = new Promise<void>((ok) => sm2.once('resumed', () => ok()));
      open.push({ xmpp: b2, jid: '', received, waitFor: () => Promise.reject(new Error('unused')), stop: async () => void (await b2.stop().catch(() => undefined)) });
      // start() waits for 'online', which @xmpp/client 0.14 does not emit after a resumption: wait for 'resumed'.
      void b2.start().catch(() => undefined);
      await withTimeout(resumed, 15_000, 'takeover by resumption');

      await until(() => b.xmpp.status === 'disconnect' || b.xmpp.status === 'offline', 'old connection closed');
      expect(oldErrors).to.include('conflict');
      await a.xmpp.send(xml('message', { to: 'bob@localhost/phone', type: 'chat' }, xml('body', {}, 'after takeover')));
      await until(() => received.some((el) => bodyOf(el) === 'after takeover'), 'message on the new connection');
      expect(b.received.filter((el) => bodyOf(el) === 'after takeover')).to.have.length(0);
    });

    it('an inactive client gets no presence updates until active, but a chat message at once', async () => {
      const a = keep(await connectTcp(server, alice));
      const b = keep(await smOnline(server, bob));
      await b.xmpp.send(xml('inactive', { xmlns: NS_CSI }));
      // Barrier: the server handles Bob's elements in order, so <inactive/> is in effect once this answers.
      await b.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), undefined, 10_000);
      await a.xmpp.send(xml('presence', { to: 'bob@localhost/phone' }, xml('status', {}, 'busy')));
      await a.xmpp.send(xml('message', { to: 'bob@localhost/phone', type: 'chat' }, xml('body', {}, 'urgent')));
      await b.waitFor((el) => bodyOf(el) === 'urgent', 10_000, 'the chat message while inactive');
      const statusFromAlice = () => b.received.filter((el) => el.is('presence') && el.attrs.from === 'alice@localhost/desk' && el.getChildText('status') === 'busy');
      expect(statusFromAlice()).to.have.length(0);
      await b.xmpp.send(xml('active', { xmlns: NS_CSI }));
      await b.waitFor((el) => el.is('presence') && el.getChildText('status') === 'busy', 10_000, 'held presence after <active/>');
      expect(statusFromAlice()).to.have.length(1);
    });
  });

  describe('with a short resumption timeout', () => {
    let server: SoriProcess;
    before(async () => {
      server = await startSori({ users, config: { modules: { options: { sm: { resumeTimeoutSeconds: 1 } } } } });
    });
    after(async () => {
      await server?.stop();
    });

    it('a client that does not come back gets the 5 unacknowledged messages from offline storage at its next login', async () => {
      const a = keep(await connectTcp(server, alice));
      await a.xmpp.send(xml('presence'));
      const b = keep(await smOnline(server, bob));
      // Alice subscribes to Bob, so she sees him go unavailable when his hibernated session ends.
      await a.xmpp.send(xml('presence', { to: 'bob@localhost', type: 'subscribe' }));
      await b.waitFor((el) => el.is('presence') && el.attrs.type === 'subscribe', 10_000, 'subscription request');
      await b.xmpp.send(xml('presence', { to: 'alice@localhost', type: 'subscribed' }));
      await a.waitFor((el) => el.is('presence') && el.attrs.from === 'bob@localhost/phone' && el.attrs.type === undefined, 10_000, "Bob's presence");

      destroySocket(b);
      for (let i = 1; i <= 5; i++) await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat' }, xml('body', {}, `offline ${i}`)));
      await a.waitFor((el) => el.is('presence') && el.attrs.from === 'bob@localhost/phone' && el.attrs.type === 'unavailable', 20_000, 'Bob unavailable after the timeout');

      const again = keep(await connectTcp(server, { ...bob, resource: 'laptop' }));
      await again.xmpp.send(xml('presence'));
      await again.waitFor((el) => bodyOf(el) === 'offline 5', 10_000, 'offline messages');
      // Barrier: a round trip after the last offline message.
      await again.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), undefined, 10_000);
      const got = again.received.filter((el) => bodyOf(el)?.startsWith('offline'));
      expect(got.map(bodyOf)).to.deep.equal(['offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5']);
      for (const m of got) expect(m.getChild('delay', 'urn:xmpp:delay'), 'a <delay/> stamp').to.not.equal(undefined);
    });
  });
  describe('over SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST (XEP-0484), as @xmpp/client 0.14 does when offered', () => {
    let server: SoriProcess;
    before(async () => {
      server = await startSori({ users, config: { c2s: { sasl2: true } } });
    });
    after(async () => {
      await server?.stop();
    });

    it('binds and enables SM inside authentication, then resumes inside it with a FAST token after the connection dies, with nothing lost or doubled', async () => {
      const a = keep(await connectTcp(server, alice));
      const successes: Element[] = [];
      const b = keep(await smOnline(server, bob));
      // Bind2: the server made the resource, from the client's tag.
      expect(b.jid).to.match(/^bob@localhost\/phone\.[0-9a-f]+$/);
      const sm = internals(b).streamManagement;
      const id = sm.id;
      b.xmpp.on('nonza', (el: Element) => {
        if (el.is('success', 'urn:xmpp:sasl:2')) successes.push(el);
      });
      const mechanisms: string[] = [];
      b.xmpp.on('send', (el: Element) => {
        if (el.is('authenticate', 'urn:xmpp:sasl:2')) mechanisms.push(String(el.attrs.mechanism));
      });
      destroySocket(b);
      await until(() => b.xmpp.status === 'disconnect', 'client noticed its connection is gone');
      for (let i = 1; i <= 3; i++) await a.xmpp.send(xml('message', { to: b.jid, type: 'chat' }, xml('body', {}, `sasl2 ${i}`)));

      const resumed = new Promise<void>((ok) => sm.once('resumed', () => ok()));
      internals(b).timeout = 15_000;
      await internals(b).reconnect.reconnect();
      await withTimeout(resumed, 15_000, 'stream resumed');
      expect(sm.id).to.equal(id);
      expect(successes).to.have.length(1);
      expect(successes[0]!.getChild('resumed', 'urn:xmpp:sm:3')?.attrs.previd, 'resumed inside the SASL2 success').to.equal(id);
      // XEP-0484: the first login asked for a FAST token; coming back, the client proves the token instead of its password.
      expect(mechanisms).to.deep.equal(['HT-SHA-256-NONE']);

      await a.xmpp.send(xml('message', { to: b.jid, type: 'chat' }, xml('body', {}, 'after')));
      await b.waitFor((el) => bodyOf(el) === 'after', 15_000, 'the message sent after resumption');
      expect(b.received.map(bodyOf).filter((x): x is string => x !== null)).to.deep.equal(['sasl2 1', 'sasl2 2', 'sasl2 3', 'after']);
    });
  });
});
