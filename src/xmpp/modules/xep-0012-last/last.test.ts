import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS } from '../xep-0050-adhoc/index.js';
import last, { describeUptime, NS_LAST } from './index.js';

const MODULES = [roster, presence, disco, last];
const ask = (c: TestClient, to: string) => c.iq(`<iq type='get' to='${to}'><query xmlns='${NS_LAST}'/></iq>`);
const seconds = (r: XmlElement) => Number(r.getChild('query', NS_LAST)!.attrs.seconds);
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;

describe('XEP-0012 last activity', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let dave: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start(MODULES);
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
    dave = await ts.login('dave@localhost/pc');
    // bob sees alice's presence.
    await bob.send(`<presence to='alice@localhost' type='subscribe'/>`);
    await alice.send(`<presence to='bob@localhost' type='subscribed'/>`);
    await eventually(async () => expect((await ask(bob, 'alice@localhost')).attrs.type).to.equal('error')); // subscribed, never online: item-not-found
    expect(condition(await ask(bob, 'alice@localhost'))).to.equal('item-not-found');
  });
  afterEach(() => ts.stop());

  it('answers the server domain with its uptime, and is in its disco#info', async () => {
    const r = await dave.iq(`<iq type='get' to='localhost'><query xmlns='${NS_LAST}'/></iq>`);
    expect(r.attrs.type).to.equal('result');
    expect(seconds(r)).to.be.within(0, 60);
    const info = await dave.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_LAST);
  });

  it('tells a contact 0 while the account is online, then how long ago it left and with what status', async () => {
    await alice.send('<presence/>');
    await eventually(async () => expect(seconds(await ask(bob, 'alice@localhost'))).to.equal(0));
    await alice.send(`<presence type='unavailable'><status>gone fishing</status></presence>`);
    const r = await eventually(async () => {
      const answer = await ask(bob, 'alice@localhost');
      expect(answer.getChild('query', NS_LAST)!.getText()).to.equal('gone fishing');
      return answer;
    });
    expect(seconds(r)).to.be.within(0, 5);
  });

  it('says 0 while any resource is online, and records the last one to close, also without a goodbye', async () => {
    const laptop = await ts.login('alice@localhost/laptop');
    await alice.send('<presence/>');
    await laptop.send('<presence/>');
    alice.session.close();
    await eventually(async () => expect(seconds(await ask(bob, 'alice@localhost'))).to.equal(0));
    laptop.session.close();
    await eventually(async () => expect(condition(await ask(bob, 'alice@localhost'))).to.equal(undefined));
    expect((await ask(bob, 'alice@localhost')).getChild('query', NS_LAST)!.getText()).to.equal('');
  });

  it('refuses someone who may not see the presence; answers the owner itself', async () => {
    await alice.send('<presence/>');
    expect(condition(await ask(dave, 'alice@localhost'))).to.equal('forbidden');
    expect(seconds(await alice.iq(`<iq type='get'><query xmlns='${NS_LAST}'/></iq>`))).to.equal(0);
  });

  it("refuses an idle-time query to a full JID from someone who may not see the presence, without telling the client (§4)", async () => {
    await alice.send('<presence/>');
    await dave.send(`<iq type='get' id='idle-1' to='alice@localhost/phone'><query xmlns='${NS_LAST}'/></iq>`);
    const refused = await dave.waitFor((m) => m.name === 'iq' && m.attrs.id === 'idle-1');
    expect([refused.attrs.type, condition(refused)]).to.deep.equal(['error', 'forbidden']);
    expect(alice.all((m) => m.name === 'iq' && m.getChild('query', NS_LAST) !== undefined)).to.deep.equal([]);
    // A contact's query reaches the client, which answers with its idle time.
    await bob.send(`<iq type='get' id='idle-2' to='alice@localhost/phone'><query xmlns='${NS_LAST}'/></iq>`);
    const delivered = await alice.waitFor((m) => m.name === 'iq' && m.attrs.id === 'idle-2');
    expect(delivered.attrs.from).to.equal('bob@localhost/pc');
  });
});

describe('XEP-0012 server uptime as an XEP-0050 ad-hoc command', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await TestServer.start([...MODULES, adhoc]);
  });
  afterEach(() => ts.stop());

  it('offers every user an "uptime" command that completes with the uptime in a note', async () => {
    const dave = await ts.login('dave@localhost/pc');
    const list = await dave.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='${NS_COMMANDS}'/></iq>`);
    expect(list.getChild('query')!.getChildren('item').map((i) => `${i.attrs.node}|${i.attrs.name}`)).to.deep.equal(['uptime|Get uptime']);
    const r = await dave.iq(`<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}' node='uptime' action='execute'/></iq>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
    const command = r.getChild('command', NS_COMMANDS)!;
    expect(command.attrs).to.include({ node: 'uptime', status: 'completed' });
    expect(command.getChild('note')!.attrs.type).to.equal('info');
    expect(command.getChildText('note')).to.match(/^This server has been running for 0 days, 0 hours and 0 minutes \(since \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
  });

  it('writes the uptime in days, hours and minutes', () => {
    expect(describeUptime(59)).to.equal('0 days, 0 hours and 0 minutes');
    expect(describeUptime(86400 + 3600 + 60 + 59)).to.equal('1 day, 1 hour and 1 minute');
    expect(describeUptime(3 * 86400 + 23 * 3600 + 59 * 60)).to.equal('3 days, 23 hours and 59 minutes');
  });
});
