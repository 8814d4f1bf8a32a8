import { expect } from 'chai';
import { TestServer } from '../../../testing/harness.js';
import disco from '../xep-0030-disco/index.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import muc from './index.js';
import { statusCodes } from './test-support.js';

const ROOM = 'room@conference.localhost';
const MODULES = [roster, presence, disco, muc];
const OPTIONS = { modules: { options: { muc: { defaultPersistent: true } } } };

describe('XEP-0045 §10.1.1 rooms created by a plain presence (gc-1.0 clients)', () => {
  let ts: TestServer;
  afterEach(async () => {
    await ts.stop();
  });

  it('keeps such a room when rooms are persistent by default: after a restart it is still there, and still its creator\'s', async () => {
    ts = await TestServer.start(MODULES, OPTIONS);
    const alice = await ts.login('alice@localhost/a');
    // No <x xmlns='http://jabber.org/protocol/muc'/>: the room is instant, unlocked and in use at once.
    await alice.send(`<presence to='${ROOM}/Alice'/>`);
    const self = await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Alice` && statusCodes(el).includes('110'));
    expect(statusCodes(self)).to.include('201');

    await ts.stop();
    ts = await TestServer.start(MODULES, OPTIONS, ts.store);
    const bob = await ts.login('bob@localhost/b');
    await bob.send(`<presence to='${ROOM}/Bob'/>`);
    const joined = await bob.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob` && statusCodes(el).includes('110'));
    expect(statusCodes(joined), 'bob joins the kept room; he does not create a new one').to.not.include('201');
    const owners = await ts.login('alice@localhost/a2').then((a) => a.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query></iq>`));
    expect(owners.getChild('query')!.getChildren('item').map((i) => i.attrs.jid), owners.toString()).to.deep.equal(['alice@localhost']);
  });
});
