import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { Table } from '../../../storage/wide-column.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import blocking from '../xep-0191-blocking/index.js';
import mam from '../xep-0313-mam/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createInstantRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import spamReporting, { NS_REPORTING, NS_REPORTING_0, type AbuseReport } from './index.js';

/** Sends a chat message and returns the stanza-id the recipient's archive gave it. */
async function chat(from: TestClient, to: TestClient, body: string): Promise<string> {
  await from.send(`<message type='chat' to='${to.session.jid.bare}'><body>${body}</body></message>`);
  const got = await to.waitFor((e) => e.name === 'message' && e.getChildText('body') === body);
  return got.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!;
}

describe('XEP-0377 spam reporting', function () {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let moderator: TestClient;
  const reports = async (reported: string): Promise<AbuseReport[]> =>
    (await new Table(ts.store, 'abuse_reports').range(reported)).map((r) => JSON.parse(r.value) as AbuseReport);

  beforeEach(async function () {
    ts = await TestServer.start([roster, presence, disco, blocking, mam, muc, spamReporting], { modules: { options: { 'spam-reporting': { notify: ['mod@localhost'] } } } });
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/spam');
    carol = await ts.login('carol@localhost/desk');
    moderator = await ts.login('mod@localhost/desk');
    for (const c of [alice, bob, carol, moderator]) await c.send('<presence/>');
  });
  afterEach(() => ts.stop());

  it('keeps a report attached to a block, with the reported messages from the reporter\'s archive, and tells the moderators', async function () {
    const first = await chat(bob, alice, 'cheap watches');
    const second = await chat(bob, alice, 'CHEAP WATCHES');
    const carols = await chat(carol, alice, 'lunch?');
    const features = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(features.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_REPORTING);

    const reply = await alice.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'>
      <report xmlns='${NS_REPORTING}' reason='urn:xmpp:reporting:spam'>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${first}'/>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${second}'/>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${carols}'/>
        <text xml:lang='en'>He will not stop.</text>
        <third-party/>
      </report></item></block></iq>`);
    expect(reply.attrs.type).to.equal('result');

    const [report, ...more] = await reports('bob@localhost');
    expect(more).to.have.length(0);
    expect(report).to.deep.include({ reporter: 'alice@localhost', reported: 'bob@localhost', reason: 'spam', text: 'He will not stop.', optIns: ['third-party'], unmatchedIds: [carols] });
    expect(report!.messages.map((m) => m.id)).to.deep.equal([first, second]);
    expect(report!.messages[1]!.xml).to.include('CHEAP WATCHES');
    // Carol's message, though Alice named it, is not put in a report about Bob.
    expect(JSON.stringify(report)).to.not.include('lunch?');

    const notice = await moderator.waitFor((e) => e.name === 'message' && e.getChildText('subject') === 'Abuse report');
    expect(notice.attrs.from).to.equal('localhost');
    expect(notice.getChildText('body')).to.include('alice@localhost reported bob@localhost for spam').and.include('cheap watches');
    expect(ts.server.metrics.render()).to.match(/^sori_abuse_reports_total\{reason="spam"\} 1$/m);

    // The block is a block as ever.
    bob.clear();
    await bob.send(`<message type='chat' to='alice@localhost'><body>still there?</body></message>`);
    const bounced = await bob.waitFor((e) => e.name === 'message' && e.attrs.type === 'error');
    expect(bounced.getChild('error')!.getChild('service-unavailable')).to.not.equal(undefined);
  });

  it('keeps nothing for a block without a report, and a report without a reason as unspecified', async function () {
    await alice.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>`);
    expect(await reports('bob@localhost')).to.deep.equal([]);
    await alice.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='carol@localhost'><report xmlns='${NS_REPORTING}'/></item></block></iq>`);
    expect((await reports('carol@localhost')).map((r) => r.reason)).to.deep.equal(['unspecified']);
    expect(ts.server.metrics.render()).to.match(/^sori_abuse_reports_total\{reason="other"\} 1$/m);
  });

  it('takes the reason from a report in the form clients sent before XEP-0377 0.3 (urn:xmpp:reporting:0)', async function () {
    await alice.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'><report xmlns='${NS_REPORTING_0}'><abuse/><text>threats</text></report></item></block></iq>`);
    expect((await reports('bob@localhost')).map((r) => [r.reason, r.text])).to.deep.equal([['abuse', 'threats']]);
  });

  it("keeps out of a report on a room occupant the private messages of the room's other occupants, which share its bare JID", async function () {
    const room = 'lobby@conference.localhost';
    await createInstantRoom(carol, room, 'Carol');
    await joinRoom(bob, room, 'Spammer');
    await joinRoom(alice, room, 'Alice');
    const privately = async (from: TestClient, body: string): Promise<string> => {
      await from.send(`<message type='chat' to='${room}/Alice'><body>${body}</body></message>`);
      const got = await alice.waitFor((e) => e.name === 'message' && e.getChildText('body') === body);
      return got.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!;
    };
    const spam = await privately(bob, 'cheap watches');
    const friendly = await privately(carol, 'see you at noon');

    const reply = await alice.iq(`<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='${room}/Spammer'>
      <report xmlns='${NS_REPORTING}' reason='urn:xmpp:reporting:spam'>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${spam}'/>
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${friendly}'/>
      </report></item></block></iq>`);
    expect(reply.attrs.type, reply.toString()).to.equal('result');
    const [report] = await reports(room);
    expect(report!.messages.map((m) => m.id)).to.deep.equal([spam]);
    expect(report!.unmatchedIds).to.deep.equal([friendly]);
    // Carol's words are not laid at the Spammer's door.
    expect(JSON.stringify(report)).to.not.include('see you at noon');
  });
});
