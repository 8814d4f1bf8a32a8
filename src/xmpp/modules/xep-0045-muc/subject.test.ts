import { expect } from 'chai';
import type { TestClient, TestServer } from '../../../testing/harness.js';
import { NS_MUC_OWNER } from './ns.js';
import { joinRoom, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';

describe('XEP-0045 §8.1 the room subject', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
  });
  afterEach(async () => {
    await ts.stop();
  });

  const setSubject = (text: string, id: string) => alice.send(`<message type='groupchat' to='${ROOM}' id='${id}'><subject>${text}</subject></message>`);

  it('keeps the subject it had when the new one cannot be stored: the moderator is told wait, and a newcomer is shown the old one', async () => {
    const persistent = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`,
    );
    expect(persistent.attrs.type, persistent.toString()).to.equal('result');
    await setSubject('Potions', 's1');
    await alice.waitFor((m) => m.name === 'message' && m.attrs.id === 's1');
    ts.store.failing = new Error('down');
    const refused = await (async () => {
      try {
        await setSubject('Poisons', 's2');
        return await alice.waitFor((m) => m.name === 'message' && m.attrs.id === 's2');
      } finally {
        ts.store.failing = null;
      }
    })();
    expect(refused.attrs.type, refused.toString()).to.equal('error');
    expect(refused.getChild('error')!.attrs.type).to.equal('wait');
    // The error says the subject did not change: the room must not show the new one to whoever comes next.
    await joinRoom(bob, ROOM, 'Bob');
    const shown = bob.all((m) => m.name === 'message' && m.getChild('subject') !== undefined);
    expect(shown.map((m) => m.getChildText('subject'))).to.deep.equal(['Potions']);
  });
});
