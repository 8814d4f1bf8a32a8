/**
 * sori against the npm clients: @xmpp/client over STARTTLS, direct TLS and
 * WebSocket, and stanza over WebSocket, exchanging messages across transports.
 */
import { expect } from 'chai';
import type { Agent } from 'stanza';
import type { Stanzas } from 'stanza';

type ReceivedMessage = Stanzas.ReceivedMessage;
import { startSori, type SoriProcess } from './support/server.js';
import { connectDirectTls, connectStanza, connectTcp, connectWebSocket, nextStanzaEvent, xml, type XmppSession } from './support/clients.js';

describe('npm clients against sori (@xmpp/client, stanza)', function () {
  this.timeout(60_000);
  let server: SoriProcess;
  const open: { stop(): Promise<void> | void }[] = [];
  const alice = { username: 'alice', password: 'alice-pw' };
  const bob = { username: 'bob', password: 'bob-pw' };

  before(async () => {
    server = await startSori({ users: { 'alice@localhost': alice.password, 'bob@localhost': bob.password } });
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.stop();
  });
  after(async () => {
    await server?.stop();
  });

  const keep = <T extends XmppSession>(s: T): T => (open.push(s), s);
  const keepAgent = (a: Agent): Agent => (open.push({ stop: () => a.disconnect() }), a);

  it('@xmpp/client logs in over TCP + STARTTLS', async () => {
    const s = keep(await connectTcp(server, { ...alice, resource: 'tcp' }));
    expect(s.jid).to.equal('alice@localhost/tcp');
  });

  it('@xmpp/client logs in over direct TLS (XEP-0368)', async () => {
    const s = keep(await connectDirectTls(server, alice));
    expect(s.jid).to.match(/^alice@localhost\//);
  });

  it('@xmpp/client logs in over WebSocket (RFC 7395)', async () => {
    const s = keep(await connectWebSocket(server, alice));
    expect(s.jid).to.match(/^alice@localhost\//);
  });

  it('@xmpp/client is refused with a wrong password', async () => {
    let error: unknown;
    try {
      keep(await connectTcp(server, { username: 'alice', password: 'nope' }));
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/not-authorized/);
  });

  it('stanza (WebSocket) and @xmpp/client (TCP) exchange messages', async () => {
    const a = keep(await connectTcp(server, { ...alice, resource: 'tcp' }));
    const b = keepAgent(await connectStanza(server, bob));
    await a.xmpp.send(xml('presence'));
    await b.sendPresence();

    const toB = nextStanzaEvent<ReceivedMessage>(b, 'message', (m) => m.body === 'hello bob');
    await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat' }, xml('body', {}, 'hello bob')));
    expect((await toB).from).to.equal('alice@localhost/tcp');

    b.sendMessage({ to: 'alice@localhost/tcp', type: 'chat', body: 'hello alice' });
    const got = await a.waitFor((el) => el.is('message') && el.getChildText('body') === 'hello alice', 10_000, 'message from bob');
    expect(String(got.attrs.from)).to.match(/^bob@localhost\//);
  });

  it('stanza over BOSH (XEP-0206) logs in, exchanges messages and presence with a TCP client, and logs out', async () => {
    const a = keep(await connectTcp(server, { ...alice, resource: 'tcp' }));
    const b = keepAgent(await connectStanza(server, { ...bob, resource: 'bosh' }, 10_000, { bosh: true }));
    expect(b.jid).to.equal('bob@localhost/bosh');
    await a.xmpp.send(xml('presence'));
    await b.sendPresence();
    // Directed presence both ways, so each hears of the other without a subscription.
    await a.xmpp.send(xml('presence', { to: 'bob@localhost/bosh' }));
    const seen = nextStanzaEvent<{ from: string }>(b, 'presence', (p) => p.from === 'alice@localhost/tcp');
    await seen;
    b.sendPresence({ to: 'alice@localhost/tcp' });
    await a.waitFor((el) => el.is('presence') && el.attrs.from === 'bob@localhost/bosh', 10_000, 'directed presence over BOSH');

    // Several stanzas queued at once travel in separate requests, possibly answered out of order: they must arrive in order.
    for (let i = 0; i < 5; i++) b.sendMessage({ to: 'alice@localhost/tcp', type: 'chat', body: `over bosh ${i}` });
    await a.waitFor((el) => el.is('message') && el.getChildText('body') === 'over bosh 4', 10_000, 'fifth message over BOSH');
    const order = a.received.filter((el) => el.is('message') && /^over bosh/.test(el.getChildText('body') ?? '')).map((el) => el.getChildText('body'));
    expect(order).to.deep.equal([0, 1, 2, 3, 4].map((i) => `over bosh ${i}`));

    // A message waits for the long-polling request held open by the server.
    const toB = nextStanzaEvent<ReceivedMessage>(b, 'message', (m) => m.body === 'over tcp');
    await a.xmpp.send(xml('message', { to: 'bob@localhost/bosh', type: 'chat' }, xml('body', {}, 'over tcp')));
    expect((await toB).from).to.equal('alice@localhost/tcp');

    b.disconnect();
    await a.waitFor((el) => el.is('presence') && el.attrs.from === 'bob@localhost/bosh' && el.attrs.type === 'unavailable', 10_000, 'bob leaves over BOSH');
  });

  it('creates an account at run time through XEP-0133 as the admin', async () => {
    await server.addUser('carol@localhost', 'carol-pw');
    const s = keep(await connectTcp(server, { username: 'carol', password: 'carol-pw' }));
    expect(s.jid).to.match(/^carol@localhost\//);
  });

  it('delivers chat to the right resources: a full JID to that one, a bare JID to every available one', async () => {
    const a = keep(await connectTcp(server, { ...alice, resource: 'desk' }));
    const b1 = keep(await connectTcp(server, { ...bob, resource: 'phone' }));
    const b2 = keep(await connectWebSocket(server, { ...bob, resource: 'laptop' }));
    for (const s of [a, b1, b2]) await s.xmpp.send(xml('presence'));
    await a.xmpp.send(xml('message', { to: 'bob@localhost/laptop', type: 'chat' }, xml('body', {}, 'laptop only')));
    await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat' }, xml('body', {}, 'to both')));
    await b2.waitFor((el) => el.is('message') && el.getChildText('body') === 'laptop only', 10_000, 'full-JID message');
    for (const b of [b1, b2]) await b.waitFor((el) => el.is('message') && el.getChildText('body') === 'to both', 10_000, 'bare-JID message');
    const phoneGotLaptopOnly = await b1
      .waitFor((el) => el.is('message') && el.getChildText('body') === 'laptop only', 500, 'stray message')
      .then(() => true, () => false);
    expect(phoneGotLaptopOnly).to.equal(false);
  });

  it('keeps a message for an offline user and delivers it, with a delay stamp, at the next login', async () => {
    const a = keep(await connectTcp(server, { ...alice, resource: 'offline-test' }));
    await a.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat' }, xml('body', {}, 'while you were away')));
    await new Promise((r) => setTimeout(r, 300));
    const b = keep(await connectTcp(server, { ...bob, resource: 'back' }));
    await b.xmpp.send(xml('presence'));
    const m = await b.waitFor((el) => el.is('message') && el.getChildText('body') === 'while you were away', 10_000, 'offline message');
    expect(m.getChild('delay', 'urn:xmpp:delay')).to.not.equal(undefined);
  });

  it('closes a client that sends malformed XML or an oversized stanza, while other clients keep chatting', async () => {
    const a = keep(await connectTcp(server, { ...alice, resource: 'steady' }));
    const b = keep(await connectWebSocket(server, { ...bob, resource: 'steady' }));
    await a.xmpp.send(xml('presence'));
    await b.xmpp.send(xml('presence'));
    for (const [payload, condition] of [
      ['<message><body>broken</message>', 'not-well-formed'],
      [`<message to='bob@localhost'><body>${'x'.repeat(300_000)}</body></message>`, 'policy-violation'],
    ] as const) {
      const bad = keep(await connectTcp(server, { ...alice, resource: `bad-${condition}` }));
      const closed = new Promise<string>((resolve) => bad.xmpp.on('error', (e: { condition?: string }) => resolve(String(e.condition))));
      // Raw bytes, past @xmpp/client's serializer (its Connection.write is untyped in 0.14).
      await (bad.xmpp as unknown as { write(data: string): Promise<void> }).write(payload);
      expect(await closed).to.equal(condition);
    }
    await a.xmpp.send(xml('message', { to: 'bob@localhost/steady', type: 'chat' }, xml('body', {}, 'still here')));
    await b.waitFor((el) => el.is('message') && el.getChildText('body') === 'still here', 10_000, 'message after the bad clients');
  });
});
