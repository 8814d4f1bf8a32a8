import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS } from '../xep-0050-adhoc/index.js';
import admin from '../xep-0133-admin/index.js';
import sm, { NS_SM } from '../xep-0198-sm/index.js';
import ping from './index.js';

describe('XEP-0199 ping', function () {
  this.timeout(10000);
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([ping], { modules: { options: { ping: { idleSeconds: 1, timeoutSeconds: 1, checkEverySeconds: 0.2 } } } });
  });
  afterEach(() => ts.stop());

  it('answers a client ping to the server and advertises the feature', async () => {
    const c = await ts.login('alice@localhost/a');
    const r = await c.iq("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    expect(r.attrs.type).to.equal('result');
    expect(ts.server.features()).to.include('urn:xmpp:ping');
  });

  it('pings a silent client and closes it when it does not answer, keeps one that does', async () => {
    const silent = await ts.login('alice@localhost/silent');
    const alive = await ts.login('bob@localhost/alive');
    const pingToAlive = await alive.waitFor((e) => e.name === 'iq' && e.getChild('ping', 'urn:xmpp:ping') !== undefined, 4000);
    expect(pingToAlive.attrs.from).to.equal('localhost');
    await alive.send(`<iq type='result' id='${pingToAlive.attrs.id}' to='localhost'/>`);
    await silent.waitFor((e) => e.name === 'iq' && e.getChild('ping') !== undefined, 4000);
    const deadline = Date.now() + 5000;
    while (silent.closedWith === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(silent.closedWith).to.equal('connection-timeout');
    expect(alive.closedWith).to.equal(undefined);
    expect(ts.server.localSession('bob@localhost/alive')).to.not.equal(undefined);
  });

  it('keeps the session of a silent client that can resume (XEP-0198) for it to resume, with what came meanwhile', async () => {
    await ts.stop();
    ts = await TestServer.start([ping, sm], { modules: { options: { ping: { idleSeconds: 1, timeoutSeconds: 1, checkEverySeconds: 0.2 } } } });
    // A phone out of coverage: its connection is still open, and it answers nothing.
    const phone = await ts.login('alice@localhost/phone');
    await phone.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const id = (await phone.waitFor((e) => e.name === 'enabled')).attrs.id!;
    const session = phone.session;
    await phone.waitFor((e) => e.name === 'iq' && e.getChild('ping') !== undefined, 4000);
    const deadline = Date.now() + 5000;
    while (phone.closedWith === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(phone.closedWith).to.equal('connection-timeout');
    expect(session.open, 'kept for resumption').to.equal(true);
    const bob = await ts.login('bob@localhost/b');
    await bob.send("<message to='alice@localhost/phone' type='chat'><body>while away</body></message>");
    // Back in coverage.
    const again = await ts.authenticated('alice@localhost');
    await again.preBind(`<resume xmlns='${NS_SM}' previd='${id}' h='0'/>`);
    await again.waitFor((e) => e.name === 'resumed');
    await again.waitFor((e) => e.name === 'message' && e.getChildText('body') === 'while away');
    expect(again.session).to.equal(session);
  });
});

describe('XEP-0199 ping as an XEP-0050 ad-hoc command', function () {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, disco, adhoc, admin, ping], { server: { admins: ['boss@localhost'] } });
  });
  afterEach(() => ts.stop());

  const commandNodes = async (c: TestClient): Promise<string[]> => {
    const r = await c.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='${NS_COMMANDS}'/></iq>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
    return r.getChild('query')!.getChildren('item').map((i) => `${i.attrs.node}|${i.attrs.name}`);
  };

  it('offers an ordinary user the "ping" command, and only that, which completes with a Pong note', async () => {
    const alice = await ts.login('alice@localhost/a');
    expect(await commandNodes(alice)).to.deep.equal(['ping|Ping']);
    const r = await alice.iq(`<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}' node='ping' action='execute'/></iq>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
    const command = r.getChild('command', NS_COMMANDS)!;
    expect(command.attrs).to.include({ node: 'ping', status: 'completed' });
    const note = command.getChild('note')!;
    expect(note.attrs.type).to.equal('info');
    expect(command.getChildText('note')).to.match(/^Pong\n\d{4}-\d\d-\d\dT/);
  });

  it('lists ping beside the administration commands for an admin', async () => {
    const boss = await ts.login('boss@localhost/console');
    const nodes = await commandNodes(boss);
    expect(nodes).to.include('ping|Ping');
    expect(nodes.filter((n) => n.startsWith('http://jabber.org/protocol/admin#'))).to.have.length.above(0);
  });
});
