import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import type { OfflineEvent } from '../../events.js';
import { defineModule } from '../../module.js';
import { CLIENT_ACKS, type ClientSession } from '../../session.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import sm, { NS_SM } from './index.js';

const isSm = (name: string) => (el: XmlElement) => el.name === name && el.attrs.xmlns === NS_SM;
const isChat = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;
const chat = (to: string, body: string) => `<message to='${to}' type='chat'><body>${body}</body></message>`;

/** Records message/offline and claims it, as offline storage would. */
function offlineSpy() {
  const stored: OfflineEvent[] = [];
  const def = defineModule({
    name: 'offline-spy',
    implements: 'test',
    start(ctx) {
      ctx.hook('message/offline', (ev) => {
        stored.push(ev);
        return true;
      });
    },
  });
  return { stored, def };
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolution of each promise so far, in order. */
function watch(...waits: Array<Promise<void>>): boolean[] {
  const done = waits.map(() => false);
  waits.forEach((w, i) => void w.then(() => (done[i] = true)));
  return done;
}

function acksOf(session: ClientSession) {
  const acks = session.get(CLIENT_ACKS);
  if (acks === undefined) throw new Error('CLIENT_ACKS not set');
  return acks;
}

async function enable(c: TestClient, attrs = "resume='true'"): Promise<XmlElement> {
  await c.send(`<enable xmlns='${NS_SM}' ${attrs}/>`);
  return c.waitFor(isSm('enabled'));
}

/** Asks for the server's h and returns it. */
async function serverH(c: TestClient): Promise<number> {
  const before = c.all(isSm('a')).length;
  await c.send(`<r xmlns='${NS_SM}'/>`);
  await until(() => c.all(isSm('a')).length > before, '<a/>');
  return Number(c.all(isSm('a'))[before]!.attrs.h);
}

describe('XEP-0198 stream management', () => {
  let ts: TestServer;
  const spy = offlineSpy();

  async function start(options: Record<string, unknown> = {}): Promise<void> {
    spy.stored.length = 0;
    ts = await TestServer.start([roster, presence, sm, spy.def], { modules: { options: { sm: options } } });
  }
  afterEach(() => ts.stop());

  it('offers <sm/> after authentication only', async () => {
    await start();
    const ctx = { secure: true, transport: 'tcp' as const, host: 'localhost' };
    const built = (stage: string) => ts.server.registrations.streamFeatures.filter((f) => f.stage === stage).map((f) => f.build(ctx)?.toString());
    expect(built('post-auth')).to.include(`<sm xmlns="${NS_SM}"/>`);
    expect(built('pre-auth').join('')).not.to.include(NS_SM);
  });

  it('<enable resume/> answers with id, resume, max (capped by the client) and location', async () => {
    await start({ resumeTimeoutSeconds: 120, location: 'xmpp.example:5222' });
    const bob = await ts.login('bob@localhost/b');
    const enabled = await enable(bob, "resume='true' max='60'");
    expect(enabled.attrs.id).to.be.a('string').with.length.above(15);
    expect(enabled.attrs).to.include({ resume: 'true', max: '60', location: 'xmpp.example:5222' });
    const carol = await ts.login('carol@localhost/c');
    expect((await enable(carol, "resume='true' max='9999'")).attrs.max).to.equal('120');
    const dave = await ts.login('dave@localhost/d');
    const plain = await enable(dave, '');
    expect(plain.attrs.resume).to.equal(undefined);
    expect(plain.attrs.id).to.equal(undefined);
  });

  it('a second <enable/>, <enable/> before bind and <resume/> on a bound stream fail with unexpected-request', async () => {
    await start();
    const bob = await ts.login('bob@localhost/b');
    await enable(bob);
    await bob.send(`<enable xmlns='${NS_SM}'/>`);
    const f = await bob.waitFor(isSm('failed'));
    expect(f.getChild('unexpected-request')).to.not.equal(undefined);
    bob.clear();
    await bob.send(`<resume xmlns='${NS_SM}' previd='x' h='0'/>`);
    expect((await bob.waitFor(isSm('failed'))).getChild('unexpected-request')).to.not.equal(undefined);
    const unbound = await ts.authenticated('erin@localhost');
    await unbound.preBind(`<enable xmlns='${NS_SM}'/>`);
    expect((await unbound.waitFor(isSm('failed'))).getChild('unexpected-request')).to.not.equal(undefined);
  });

  it('counts every inbound stanza after <enable/>, rejected ones and session iqs included', async () => {
    await start();
    const bob = await ts.login('bob@localhost/b');
    await bob.send(chat('alice@localhost', 'before enable'));
    await enable(bob);
    expect(await serverH(bob)).to.equal(0);
    await bob.send(chat('alice@localhost', 'one'));
    await bob.send("<message type='bogus' to='alice@localhost'><body>rejected</body></message>");
    await bob.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    await bob.send("<presence type='unavailable'/>");
    expect(await serverH(bob)).to.equal(4);
  });

  it('counts what is written, acks release the queue, and an h beyond the send count is a stream error', async () => {
    await start({ requestAckEvery: 100 });
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob);
    // The reply to a rejected stanza goes through the same counter.
    await bob.send("<message type='bogus' to='alice@localhost'><body>x</body></message>");
    await bob.waitFor((e) => e.name === 'message' && e.attrs.type === 'error');
    for (const b of ['1', '2']) await alice.send(chat('bob@localhost/b', b));
    await bob.waitFor(isChat('2'));
    await bob.send(`<a xmlns='${NS_SM}' h='3'/>`);
    expect(bob.closedWith).to.equal(undefined);
    await alice.send(chat('bob@localhost/b', '3'));
    await bob.send(`<a xmlns='${NS_SM}' h='5'/>`);
    const err = await bob.waitFor((e) => e.name === 'stream:error');
    expect(err.getChild('undefined-condition', 'urn:ietf:params:xml:ns:xmpp-streams')).to.not.equal(undefined);
    expect(err.getChild('handled-count-too-high', NS_SM)!.attrs).to.include({ h: '5', 'send-count': '4' });
    expect(bob.closedWith).to.equal(null);
    expect(bob.session.open).to.equal(false);
  });

  it('tells others (CLIENT_ACKS) when the client has acknowledged what was written so far', async () => {
    await start({ requestAckEvery: 100 });
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    expect(bob.session.get(CLIENT_ACKS)).to.equal(undefined);
    await enable(bob);
    const acks = acksOf(bob.session);
    const nothingOutstanding = watch(acks.untilHandled());
    await new Promise((r) => setImmediate(r));
    expect(nothingOutstanding).to.deep.equal([true]);

    await alice.send(chat('bob@localhost/b', '1'));
    await bob.waitFor(isChat('1'));
    const afterOne = acks.untilHandled();
    await alice.send(chat('bob@localhost/b', '2'));
    await bob.waitFor(isChat('2'));
    const done = watch(afterOne, acks.untilHandled());
    await bob.send(`<a xmlns='${NS_SM}' h='1'/>`);
    await until(() => done[0]!, 'the first wait');
    expect(done).to.deep.equal([true, false]);
    await bob.send(`<a xmlns='${NS_SM}' h='2'/>`);
    await until(() => done[1]!, 'the second wait');
  });

  it('releases CLIENT_ACKS waits when the session ends, after its unacknowledged messages went offline', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob, '');
    await alice.send(chat('bob@localhost/b', 'never acknowledged'));
    await bob.waitFor(isChat('never acknowledged'));
    let storedWhenReleased = -1;
    const released = acksOf(bob.session).untilHandled().then(() => (storedWhenReleased = spy.stored.length));
    await new Promise((r) => setTimeout(r, 20));
    expect(storedWhenReleased).to.equal(-1);
    await bob.drop();
    await released;
    expect(storedWhenReleased).to.equal(1);
    expect(bob.session.get(CLIENT_ACKS)).to.equal(undefined);
  });

  it('asks for an ack after requestAckEvery stanzas, once per burst and after the stanzas', async () => {
    await start({ requestAckEvery: 3 });
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob);
    for (const b of ['1', '2']) await alice.send(chat('bob@localhost/b', b));
    expect(bob.all(isSm('r'))).to.have.length(0);
    await alice.send(chat('bob@localhost/b', '3'));
    await bob.waitFor(isSm('r'));
    const order = bob.received.filter((e) => e.name === 'message' || isSm('r')(e)).map((e) => (e.name === 'r' ? 'r' : e.getChildText('body')));
    expect(order).to.deep.equal(['1', '2', '3', 'r']);
  });

  it('hibernates on connection loss and resumes: acked stanzas are dropped, the rest re-sent once, new ones follow', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    const id = (await enable(bob)).attrs.id!;
    await alice.send(chat('bob@localhost/b', 'seen'));
    await alice.send(chat('bob@localhost/b', 'lost in flight'));
    await bob.send(chat('alice@localhost', 'from bob'));
    const session = bob.session;
    const hibernated = new Promise<boolean>((ok) => ts.server.hooks.add('session/hibernated', (ev) => ok(ev.session === session && !session.connected)));
    await bob.drop();
    expect(session.open).to.equal(true);
    expect(session.connected).to.equal(false);
    expect(await hibernated).to.equal(true);
    for (const b of ['h1', 'h2', 'h3']) await alice.send(chat('bob@localhost/b', b));
    expect(bob.all(isChat('h1'))).to.have.length(0);

    const again = await ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='1'/>`);
    const resumed = await again.waitFor(isSm('resumed'));
    expect(resumed.attrs).to.include({ previd: id, h: '1' });
    expect(again.session).to.equal(session);
    expect(session.connected).to.equal(true);
    expect(ts.server.sessions.get('bob@localhost/b')).to.equal(session);
    const bodies = again.received.filter((e) => e.name === 'message').map((e) => e.getChildText('body'));
    expect(bodies).to.deep.equal(['lost in flight', 'h1', 'h2', 'h3']);
    expect(again.received.indexOf(resumed)).to.equal(0);

    await alice.send(chat('bob@localhost/b', 'after'));
    await again.waitFor(isChat('after'));
    await again.send(`<a xmlns='${NS_SM}' h='6'/>`);
    expect(again.closedWith).to.equal(undefined);
    expect(spy.stored.filter((e) => e.requeued)).to.have.length(0);
  });

  it('a hibernated session with available presence still takes messages to the bare JID', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await bob.send('<presence/>');
    const id = (await enable(bob)).attrs.id!;
    await bob.drop();
    await alice.send(chat('bob@localhost', 'to bare'));
    expect(spy.stored).to.have.length(0);
    const again = await ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isChat('to bare'));
  });

  it('a <resume/> for a session still connected takes it over and closes the old connection', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    const id = (await enable(bob)).attrs.id!;
    await alice.send(chat('bob@localhost/b', 'unacked'));
    const session = bob.session;
    const again = await ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor(isSm('resumed'));
    expect(bob.closedWith).to.equal('conflict');
    expect(session.open).to.equal(true);
    expect(again.session).to.equal(session);
    await again.waitFor(isChat('unacked'));
    await alice.send(chat('bob@localhost/b', 'next'));
    await again.waitFor(isChat('next'));
    expect(bob.all(isChat('next'))).to.have.length(0);
  });

  it('an unknown id, another account\'s id, and an expired id fail with item-not-found (with h once known)', async () => {
    await start({ resumeTimeoutSeconds: 0.1 });
    const bob = await ts.login('bob@localhost/b');
    const id = (await enable(bob)).attrs.id!;
    await bob.send(chat('alice@localhost', 'counted'));
    const unknown = await ts.authenticated('bob@localhost');
    await unknown.preBind(`<resume xmlns='${NS_SM}' previd='nope' h='0'/>`);
    const f1 = await unknown.waitFor(isSm('failed'));
    expect(f1.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas')).to.not.equal(undefined);
    expect(f1.attrs.h).to.equal(undefined);

    const mallory = await ts.authenticated('mallory@localhost');
    await mallory.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    expect((await mallory.waitFor(isSm('failed'))).getChild('item-not-found')).to.not.equal(undefined);
    expect(bob.session.open).to.equal(true);

    const session = bob.session;
    await bob.drop();
    await until(() => !session.open, 'hibernation timeout');
    const late = await ts.authenticated('bob@localhost');
    await late.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    const f3 = await late.waitFor(isSm('failed'));
    expect(f3.getChild('item-not-found')).to.not.equal(undefined);
    expect(f3.attrs.h).to.equal('1');
    expect(ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
  });

  it('when hibernation times out, unacknowledged messages go to offline storage with <delay/> (bodiless ones offered, no-store never)', async () => {
    await start({ resumeTimeoutSeconds: 0.2 });
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob);
    await alice.send(chat('bob@localhost/b', 'acked'));
    await bob.send(`<a xmlns='${NS_SM}' h='1'/>`);
    await alice.send(chat('bob@localhost/b', 'sent, not acked'));
    const session = bob.session;
    await bob.drop();
    await alice.send(chat('bob@localhost/b', 'while away'));
    await alice.send("<message to='bob@localhost/b' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
    await alice.send("<message to='bob@localhost/b' type='chat'><body>no store</body><no-store xmlns='urn:xmpp:hints'/></message>");
    await alice.send("<presence to='bob@localhost/b'/>");
    await until(() => !session.open, 'hibernation timeout');
    await until(() => spy.stored.length === 3, 'three offline messages');
    // The chat state is offered too: offline storage decides (the real one drops chat states quietly).
    expect(spy.stored.map((e) => e.stanza.getChildText('body') ?? e.stanza.elements()[0]?.name)).to.deep.equal(['sent, not acked', 'while away', 'composing']);
    for (const ev of spy.stored) {
      expect(ev.to.full).to.equal('bob@localhost');
      expect(ev.requeued).to.equal(true);
      expect(ev.stanza.getChild('delay', 'urn:xmpp:delay')!.attrs.from).to.equal('localhost');
      expect(ev.stanza.attrs.from).to.equal('alice@localhost/a');
    }
    expect(ts.server.sessions.get('bob@localhost/b')).to.equal(undefined);
  });

  it('without resumption a broken connection ends the session and unacked messages go offline at once', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob, '');
    await alice.send(chat('bob@localhost/b', 'unacked'));
    await bob.drop();
    expect(bob.session.open).to.equal(false);
    await until(() => spy.stored.length === 1, 'offline message');
    expect(spy.stored[0]!.stanza.getChildText('body')).to.equal('unacked');
  });

  it('answers an unacknowledged iq request and groupchat message with service-unavailable when the session ends', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob, '');
    await alice.send("<iq type='get' id='v1' to='bob@localhost/b'><query xmlns='jabber:iq:version'/></iq>");
    await alice.send("<message to='bob@localhost/b' type='groupchat' id='g1'><body>room talk</body></message>");
    await bob.waitFor(isChat('room talk'));
    await bob.drop();
    // As for an unavailable resource (§4, RFC 6121 §8.5.3.2): the requester stops waiting, a room learns its occupant is gone.
    const iqError = await alice.waitFor((e) => e.name === 'iq' && e.attrs.id === 'v1');
    expect([iqError.attrs.type, iqError.attrs.from]).to.deep.equal(['error', 'bob@localhost/b']);
    expect(iqError.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
    const bounced = await alice.waitFor((e) => e.name === 'message' && e.attrs.type === 'error');
    expect(bounced.attrs.id).to.equal('g1');
    expect(bounced.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
    expect(spy.stored).to.have.length(0);
  });

  it('ends a <resume/> whose h is above what was sent with a stream error, as for <a/> (§5, §6); the session waits on', async () => {
    await start();
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    const id = (await enable(bob)).attrs.id!;
    await alice.send(chat('bob@localhost/b', 'one'));
    await bob.waitFor(isChat('one'));
    await bob.drop();
    const again = await ts.authenticated('bob@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='5'/>`);
    const error = again.received.find((e) => e.name === 'stream:error');
    expect(error?.getChild('handled-count-too-high', NS_SM)?.attrs).to.include({ h: '5', 'send-count': '1' });
    expect(again.all(isSm('failed'))).to.have.length(0);
    const third = await ts.authenticated('bob@localhost');
    await third.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    expect(third.all(isSm('resumed'))).to.have.length(1);
  });

  it('past maxUnacked a hibernated session ends and its messages go offline', async () => {
    await start({ maxUnacked: 3 });
    const alice = await ts.login('alice@localhost/a');
    const bob = await ts.login('bob@localhost/b');
    await enable(bob);
    const session = bob.session;
    await bob.drop();
    for (const b of ['1', '2', '3', '4']) await alice.send(chat('bob@localhost/b', b));
    await until(() => !session.open, 'session ended');
    await until(() => spy.stored.length === 4, 'four offline messages');
  });
});
