import { expect } from 'chai';
import { TestServer, type TestClient } from '../../testing/harness.js';
import roster from '../modules/rfc6121-roster/index.js';
import presence from '../modules/rfc6121-presence/index.js';
import offline from '../modules/xep-0160-offline/index.js';
import { x, type XmlElement } from '../../util/xml.js';

const isMsg = (body: string) => (e: XmlElement) => e.name === 'message' && e.getChildText('body') === body;
const errorCondition = (e: XmlElement) => e.getChild('error')?.elements()[0]?.name;

async function online(ts: TestServer, full: string, priority = 0): Promise<TestClient> {
  const c = await ts.login(full);
  await c.send(`<presence><priority>${priority}</priority></presence>`);
  return c;
}

describe('message routing rules (RFC 6121 §8.5)', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, offline]);
  });
  afterEach(() => ts.stop());

  it('chat to a bare JID reaches every resource with non-negative priority, not negative ones', async () => {
    const a = await online(ts, 'alice@localhost/a');
    const b1 = await online(ts, 'bob@localhost/one', 5);
    const b2 = await online(ts, 'bob@localhost/two', 0);
    const b3 = await online(ts, 'bob@localhost/hidden', -1);
    await a.send("<message to='bob@localhost' type='chat'><body>hi</body></message>");
    await b1.waitFor(isMsg('hi'));
    await b2.waitFor(isMsg('hi'));
    expect(b3.all(isMsg('hi'))).to.have.length(0);
  });

  it('a message to a full JID goes to that resource only', async () => {
    const a = await online(ts, 'alice@localhost/a');
    const b1 = await online(ts, 'bob@localhost/one');
    const b2 = await online(ts, 'bob@localhost/two');
    await a.send("<message to='bob@localhost/two' type='chat'><body>only two</body></message>");
    await b2.waitFor(isMsg('only two'));
    expect(b1.all(isMsg('only two'))).to.have.length(0);
  });

  it('chat to an unavailable full JID is treated as sent to the bare JID', async () => {
    const a = await online(ts, 'alice@localhost/a');
    const b = await online(ts, 'bob@localhost/one');
    await a.send("<message to='bob@localhost/gone' type='chat'><body>fallback</body></message>");
    await b.waitFor(isMsg('fallback'));
  });

  it('a message to an account with no resource is stored offline and delivered at next available presence', async () => {
    const a = await online(ts, 'alice@localhost/a');
    await ts.addUser('bob@localhost');
    await a.send("<message to='bob@localhost' type='chat'><body>later</body></message>");
    expect(a.all((e) => e.attrs.type === 'error')).to.have.length(0);
    const b = await online(ts, 'bob@localhost/phone');
    const m = await b.waitFor(isMsg('later'));
    expect(m.getChild('delay', 'urn:xmpp:delay')).to.not.equal(undefined);
  });

  it('headline to an offline account is dropped silently; groupchat to an account is an error', async () => {
    const a = await online(ts, 'alice@localhost/a');
    await ts.addUser('bob@localhost');
    await a.send("<message to='bob@localhost' type='headline'><body>news</body></message>");
    await a.send("<message id='g1' to='bob@localhost' type='groupchat'><body>room</body></message>");
    const err = await a.waitFor((e) => e.attrs.id === 'g1' && e.attrs.type === 'error');
    expect(errorCondition(err)).to.equal('service-unavailable');
    expect(a.all((e) => e.attrs.type === 'error')).to.have.length(1);
  });

  it('a message to an account that does not exist bounces with service-unavailable', async () => {
    const a = await online(ts, 'alice@localhost/a');
    await a.send("<message id='x1' to='nobody@localhost' type='chat'><body>?</body></message>");
    const err = await a.waitFor((e) => e.attrs.id === 'x1');
    expect(err.attrs.type).to.equal('error');
    expect(errorCondition(err)).to.equal('service-unavailable');
    expect(err.attrs.from).to.equal('nobody@localhost');
  });

  it('a malformed to is answered with jid-malformed; a remote domain with remote-server-not-found', async () => {
    const a = await online(ts, 'alice@localhost/a');
    await a.send("<message id='m1' to='a@b@c' type='chat'><body>x</body></message>");
    expect(errorCondition(await a.waitFor((e) => e.attrs.id === 'm1'))).to.equal('jid-malformed');
    await a.send("<message id='m2' to='someone@elsewhere.example' type='chat'><body>x</body></message>");
    expect(errorCondition(await a.waitFor((e) => e.attrs.id === 'm2'))).to.equal('remote-server-not-found');
  });

  it('an iq get to an unavailable full JID is answered service-unavailable', async () => {
    const a = await online(ts, 'alice@localhost/a');
    await online(ts, 'bob@localhost/one');
    const r = await a.iq("<iq type='get' to='bob@localhost/nope'><query xmlns='jabber:iq:version'/></iq>");
    expect(errorCondition(r)).to.equal('service-unavailable');
  });
});

describe("replies to the server's own iqs", () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([]);
  });
  afterEach(() => ts.stop());

  it('takes a reply only from the JID the iq went to (RFC 6120 §8.2.3), whoever else knows its id', async () => {
    const alice = await ts.login('alice@localhost/a');
    const mallory = await ts.login('mallory@localhost/m');
    const answer = ts.server.sendIq(x('iq', { type: 'get', from: 'localhost', to: 'alice@localhost/a' }, x('ping', { xmlns: 'urn:xmpp:ping' })), 3000);
    const asked = await alice.waitFor((e) => e.name === 'iq' && e.getChild('ping') !== undefined);
    await mallory.send(`<iq type='result' id='${asked.attrs.id}' to='localhost'/>`);
    await new Promise((r) => setTimeout(r, 100));
    await alice.send(`<iq type='result' id='${asked.attrs.id}' to='localhost'/>`);
    const reply = await answer;
    expect(reply?.attrs.from).to.equal('alice@localhost/a');
  });
});
