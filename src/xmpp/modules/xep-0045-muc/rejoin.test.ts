import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC } from './index.js';
import { joinRoom, startWithRoom, statusCodes } from './test-support.js';

const ROOM = 'room@conference.localhost';
const presenceFrom = (nick: string) => (el: XmlElement) => el.name === 'presence' && el.attrs.from === `${ROOM}/${nick}`;

describe('XEP-0045 a join presence from a session already joined (a rejoin)', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
    await joinRoom(bob, ROOM, 'Bob');
    await alice.send(`<message type='groupchat' to='${ROOM}'><body>before</body></message>`);
    await bob.waitFor((el) => el.getChildText('body') === 'before');
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('gives the client the occupants, its own presence, history and subject again, in the order of a join (§7.2)', async () => {
    bob.clear();
    alice.clear();
    await bob.send(`<presence to='${ROOM}/Bob' id='rj'><x xmlns='${NS_MUC}'/><show>away</show></presence>`);
    const subject = await bob.waitFor((el) => el.name === 'message' && el.getChild('subject') !== undefined);
    const got = bob.received;
    const aliceAt = got.findIndex(presenceFrom('Alice'));
    const selfAt = got.findIndex((el) => presenceFrom('Bob')(el) && statusCodes(el).includes('110'));
    const historyAt = got.findIndex((el) => el.getChildText('body') === 'before');
    const inOrder = aliceAt >= 0 && aliceAt < selfAt && selfAt < historyAt && historyAt < got.indexOf(subject);
    expect(inOrder, got.map(String).join('\n')).to.equal(true);
    expect(got[selfAt]!.attrs.id).to.equal('rj');
    expect(got.filter(presenceFrom('Bob'))).to.have.length(1);
    // The others see a presence change, not a second occupant.
    const seen = await alice.waitFor(presenceFrom('Bob'));
    expect(seen.getChildText('show')).to.equal('away');
    expect(statusCodes(seen)).to.not.include('110');
  });

  it('treats a presence without the MUC element as a mere update', async () => {
    bob.clear();
    await bob.send(`<presence to='${ROOM}/Bob'><show>dnd</show></presence>`);
    await bob.waitFor(presenceFrom('Bob'));
    await new Promise((r) => setTimeout(r, 50));
    expect(bob.all((el) => el.name === 'message' && el.getChild('subject') !== undefined)).to.have.length(0);
    expect(bob.all(presenceFrom('Alice'))).to.have.length(0);
  });
});
