import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from './index.js';
import { createInstantRoom, joinRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';

describe('XEP-0045 iqs to a room', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, muc]);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
    const { result } = await createInstantRoom(alice, ROOM, 'Alice');
    expect(result.attrs.type, result.toString()).to.equal('result');
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('answers the reserved-nick node (§7.12) with an empty query: no nick is registered here, before or after joining', async () => {
    const ask = (c: TestClient) => c.iq(`<iq type='get' to='${ROOM}'><query xmlns='${DISCO_INFO}' node='x-roomuser-item'/></iq>`);
    for (const r of [await ask(bob), await ask(alice)]) {
      expect(r.attrs.type, r.toString()).to.equal('result');
      const q = r.getChild('query', DISCO_INFO)!;
      expect(q.attrs.node).to.equal('x-roomuser-item');
      expect(q.elements(), 'no identity: nobody has a reserved nick').to.deep.equal([]);
    }
    await joinRoom(bob, ROOM, 'Bob');
    expect((await ask(bob)).attrs.type, 'no error once joined (§7.12)').to.equal('result');
  });
});
