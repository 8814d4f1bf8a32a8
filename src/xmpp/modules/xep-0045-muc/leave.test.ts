import { expect } from 'chai';
import type { TestClient, TestServer } from '../../../testing/harness.js';
import { errorCondition, joinRoom, occupantItem, presenceFrom, startWithRoom, statusCodes } from './test-support.js';

const ROOM = 'room@conference.localhost';

// aioxmpp's Room.leave() sends its unavailable to the room's bare JID, not to room@service/nick (§7.14).
describe('XEP-0045 leaving by unavailable presence to the room JID', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob, carol] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b', 'carol@localhost/c']));
    await joinRoom(bob, ROOM, 'Bob');
    alice.clear();
    bob.clear();
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('takes the occupant out: the others see it leave, it gets its own unavailable (110, its id) and no error', async () => {
    await bob.send(`<presence type='unavailable' id='bye' to='${ROOM}'/>`);
    const self = await bob.waitFor((el) => el.name === 'presence' && el.attrs.id === 'bye');
    expect(self.attrs.from, self.toString()).to.equal(`${ROOM}/Bob`);
    expect(self.attrs.type, self.toString()).to.equal('unavailable');
    expect(statusCodes(self)).to.include('110');
    const left = await alice.waitFor(presenceFrom(`${ROOM}/Bob`, (p) => p.attrs.type === 'unavailable'));
    expect(occupantItem(left).role).to.equal('none');
    // Out of the room: a message to it is refused as from a non-occupant.
    await bob.send(`<message type='groupchat' id='after' to='${ROOM}'><body>still here?</body></message>`);
    const refused = await bob.waitFor((el) => el.name === 'message' && el.attrs.id === 'after');
    expect(errorCondition(refused), refused.toString()).to.equal('not-acceptable');
  });

  it('still refuses it from someone not in the room with jid-malformed, and nobody leaves', async () => {
    await carol.send(`<presence type='unavailable' id='nope' to='${ROOM}'/>`);
    const err = await carol.waitFor((el) => el.name === 'presence' && el.attrs.id === 'nope');
    expect(errorCondition(err), err.toString()).to.equal('jid-malformed');
    await bob.send(`<message type='groupchat' to='${ROOM}'><body>still here</body></message>`);
    await alice.waitFor((el) => el.getChildText('body') === 'still here');
    expect(alice.received.filter(presenceFrom(`${ROOM}/Bob`))).to.deep.equal([]);
  });
});
