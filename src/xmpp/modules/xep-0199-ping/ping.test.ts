import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
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
});
