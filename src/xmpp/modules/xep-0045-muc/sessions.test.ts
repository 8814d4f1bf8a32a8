import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC } from './index.js';
import { joinRoom, startWithRoom, statusCodes } from './test-support.js';

const ROOM = 'room@conference.localhost';
const fromBob = (el: XmlElement) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob`;

describe('XEP-0045 one nick joined from several sessions', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob1: TestClient;
  let bob2: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob1, bob2] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/one', 'bob@localhost/two']));
    await joinRoom(bob1, ROOM, 'Bob');
    await bob2.send(`<presence to='${ROOM}/Bob'><x xmlns='${NS_MUC}'/><show>dnd</show></presence>`);
    await bob2.waitFor((el) => fromBob(el) && statusCodes(el).includes('110'));
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('when the session whose presence the room showed leaves, others are shown the remaining session\'s', async () => {
    alice.clear();
    await bob2.send(`<presence type='unavailable' to='${ROOM}/Bob'/>`);
    const update = await alice.waitFor(fromBob);
    expect(update.attrs.type, update.toString()).to.equal(undefined);
    expect(update.getChildText('show'), update.toString()).to.equal(undefined);
    const carol = await ts.login('carol@localhost/c');
    await joinRoom(carol, ROOM, 'Carol');
    const seen = carol.all(fromBob)[0]!;
    expect(seen.getChildText('show'), seen.toString()).to.equal(undefined);
  });

  it('shows the presence the remaining session last sent, not the one it joined with', async () => {
    await bob1.send(`<presence to='${ROOM}/Bob'><show>away</show></presence>`);
    await alice.waitFor((el) => fromBob(el) && el.getChildText('show') === 'away');
    await bob2.send(`<presence to='${ROOM}/Bob'><show>xa</show></presence>`);
    await alice.waitFor((el) => fromBob(el) && el.getChildText('show') === 'xa');
    alice.clear();
    await bob2.send(`<presence type='unavailable' to='${ROOM}/Bob'/>`);
    const update = await alice.waitFor(fromBob);
    expect(update.getChildText('show'), update.toString()).to.equal('away');
  });
  it('takes out of the room a session that ended while the store was down', async () => {
    // Available to the roster too: ending the session then broadcasts unavailable, which reads the roster.
    await bob1.send('<presence/>');
    await bob2.send(`<presence type='unavailable' to='${ROOM}/Bob'/>`);
    ts.store.failing = new Error('down');
    try {
      await bob1.drop();
    } finally {
      ts.store.failing = null;
    }
    await alice.waitFor((el) => fromBob(el) && el.attrs.type === 'unavailable');
  });
});
