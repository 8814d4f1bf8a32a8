import { expect } from 'chai';
import { connect } from 'node:net';
import { TestServer } from '../../../testing/harness.js';
import { RawComponent, SECRET } from '../../../testing/raw-component.js';
import { freePort } from '../../../testing/services/child-process.js';
import disco from '../xep-0030-disco/index.js';
import roster from '../rfc6121-roster/index.js';
import components from './index.js';

describe('XEP-0114 components', () => {
  let ts: TestServer;
  let port: number;
  const open: RawComponent[] = [];

  beforeEach(async () => {
    port = await freePort();
    ts = await TestServer.start([roster, disco, components], { modules: { options: { components: { port, handshakeTimeoutSeconds: 1, secrets: { 'bridge.localhost': SECRET } } } } });
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.end();
    await ts.stop();
  });
  const keep = (c: RawComponent): RawComponent => (open.push(c), c);

  it('accepts the right handshake, then carries stanzas both ways', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const bridge = keep(await RawComponent.open(port, 'bridge.localhost'));
    await bridge.authenticate();
    await bridge.waitFor(/<handshake\/>/);
    bridge.send(`<message from='telegram-42@bridge.localhost' to='alice@localhost/phone' type='chat'><body>from the bridge</body></message>`);
    const got = await alice.waitFor((e) => e.name === 'message' && e.getChildText('body') === 'from the bridge');
    expect(got.attrs.from).to.equal('telegram-42@bridge.localhost');
    await alice.send(`<message to='telegram-42@bridge.localhost' type='chat'><body>to the bridge</body></message>`);
    const [stanza] = await bridge.waitFor(/<message[^>]*>.*?to the bridge.*?<\/message>/);
    expect(stanza).to.include("from='alice@localhost/phone'").and.include("to='telegram-42@bridge.localhost'");
    expect(stanza, 'in the component namespace, not jabber:client').to.not.include('jabber:client');
  });

  it('refuses a wrong secret with not-authorized, and a domain it does not know with host-unknown', async () => {
    const wrong = keep(await RawComponent.open(port, 'bridge.localhost'));
    await wrong.authenticate('not-the-secret');
    await wrong.waitFor(/<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
    await wrong.closed;
    const unknown = keep(await RawComponent.open(port, 'other.localhost'));
    await unknown.waitFor(/<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
  });

  it('ends the stream of a component that sends from a domain not its own (invalid-from)', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const bridge = keep(await RawComponent.open(port, 'bridge.localhost'));
    await bridge.authenticate();
    await bridge.waitFor(/<handshake\/>/);
    bridge.send(`<message from='admin@localhost' to='alice@localhost/phone'><body>spoofed</body></message>`);
    await bridge.waitFor(/<invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
    await new Promise((r) => setTimeout(r, 100));
    expect(alice.received.some((e) => e.getChildText('body') === 'spoofed')).to.equal(false);
  });

  it('frees the domain as it ends a stream, though the peer keeps its socket half open', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise((ok) => socket.once('connect', ok));
    const lingering = keep(new RawComponent(socket));
    socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='bridge.localhost'>`);
    await lingering.authenticate();
    await lingering.waitFor(/<handshake\/>/);
    lingering.send(`<message from='admin@localhost' to='alice@localhost/phone'><body>spoofed</body></message>`);
    await lingering.waitFor(/<\/stream:stream>/);
    // Requests bounce as for a component that is away, and the component may connect again at once.
    const reply = await alice.iq(`<iq type='get' to='bridge.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(reply.getChild('error')?.getChild('service-unavailable')).to.not.equal(undefined);
    const again = keep(await RawComponent.open(port, 'bridge.localhost'));
    await again.authenticate();
    await again.waitFor(/<handshake\/>/);
  });

  it('keeps one connection per domain (conflict), and bounces requests while none is connected', async () => {
    const alice = await ts.login('alice@localhost/phone');
    const offline = await alice.iq(`<iq type='get' to='bridge.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(offline.attrs.type).to.equal('error');
    expect(offline.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);

    const first = keep(await RawComponent.open(port, 'bridge.localhost'));
    await first.authenticate();
    await first.waitFor(/<handshake\/>/);
    const second = keep(await RawComponent.open(port, 'bridge.localhost'));
    await second.authenticate();
    await second.waitFor(/<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);

    // The first one still answers: an iq round trip through it.
    const asked = alice.iq(`<iq type='get' id='q1' to='bridge.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    await first.waitFor(/<iq[^>]*id='q1'/);
    first.send(`<iq type='result' id='q1' from='bridge.localhost' to='alice@localhost/phone'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='gateway' type='telegram'/></query></iq>`);
    expect((await asked).getChild('query')!.getChild('identity')!.attrs.type).to.equal('telegram');
  });

  it('closes a connection that does not complete the handshake in time', async () => {
    const idle = keep(await RawComponent.open(port, 'bridge.localhost'));
    await idle.waitFor(/<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, 3000);
    await idle.closed;
  });

  it("is listed in the server's disco#items", async () => {
    const alice = await ts.login('alice@localhost/phone');
    const items = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.jid)).to.include('bridge.localhost');
  });
});
