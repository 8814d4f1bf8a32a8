import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import caps from '../xep-0115-caps/index.js';
import blocking, { NS_BLOCKING } from '../xep-0191-blocking/index.js';
import pep from './index.js';
import { availableWithCaps, event, MOOD, publish, subscribe } from './test-support.js';

/** XEP-0191 §3.3 over PEP: what the server sends on a user's behalf never reaches a contact the user blocked. */
describe('PEP and blocking', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  const block = (jid: string) => alice.iq(`<iq type='set'><block xmlns='${NS_BLOCKING}'><item jid='${jid}'/></block></iq>`);
  const unblock = (jid: string) => alice.iq(`<iq type='set'><unblock xmlns='${NS_BLOCKING}'><item jid='${jid}'/></unblock></iq>`);

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, caps, pep, blocking]);
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
    await alice.send('<presence/>');
    await subscribe(bob, alice);
    await availableWithCaps(bob, [`${MOOD}+notify`]);
  });
  afterEach(() => ts.stop());

  it('sends a blocked contact no notifications and no last item; unblocked, they come again', async () => {
    await block('bob@localhost');
    bob.clear();
    expect((await alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`))).attrs.type).to.equal('result');
    await bob.send(`<presence type='unavailable'/>`);
    await availableWithCaps(bob, [`${MOOD}+notify`, 'urn:example:other+notify']);
    await alice.iq("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    expect(bob.all(event(MOOD))).to.deep.equal([]);
    await unblock('bob@localhost');
    await alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><sad/></mood>`));
    await bob.waitFor(event(MOOD));
  });
});
