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

  it('creates an account at run time through XEP-0133 as the admin', async () => {
    await server.addUser('carol@localhost', 'carol-pw');
    const s = keep(await connectTcp(server, { username: 'carol', password: 'carol-pw' }));
    expect(s.jid).to.match(/^carol@localhost\//);
  });
});
