import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { escapeAttr, type XmlElement } from '../../../util/xml.js';
import { NS_SID } from '../../stanza-id.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createInstantRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import mam, { NS_MAM } from '../xep-0313-mam/index.js';
import retraction, { NS_RETRACT } from './index.js';
import { chat, retract } from './test-support.js';

const NS_RETRACT_0 = 'urn:xmpp:message-retract:0';

let queries = 0;

/** `owner`'s whole archive, oldest first: the archived stanzas as MAM returns them. */
async function archiveOf(owner: TestClient): Promise<XmlElement[]> {
  const queryid = `q${queries++}`;
  const fin = await owner.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='${queryid}'/></iq>`);
  expect(fin.attrs.type).to.equal('result');
  return owner.all((m) => m.getChild('result', NS_MAM)?.attrs.queryid === queryid).map((m) => m.getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!);
}

const byOrigin = (messages: XmlElement[], originId: string): XmlElement | undefined =>
  messages.find((m) => m.getChild('origin-id', NS_SID)?.attrs.id === originId && m.getChild('retract', NS_RETRACT) === undefined);

describe('XEP-0424 message retraction: tombstones in the archives', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, mam, retraction]);
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
    carol = await ts.login('carol@localhost/pc');
    for (const c of [alice, bob, carol]) await c.send('<presence/>');
  });
  afterEach(() => ts.stop());

  it('advertises retraction and tombstones on the account', async () => {
    const info = await alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const features = info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_RETRACT, `${NS_RETRACT}#tombstone`]);
  });

  it("replaces the author's message with a tombstone in both archives and keeps the retraction", async () => {
    await alice.send(chat('bob@localhost', 'sent to the wrong person', 'o-1'));
    await alice.send(chat('bob@localhost', 'this one stays', 'o-2'));
    await bob.send(chat('alice@localhost', 'bob says the same id', 'o-1'));
    await bob.waitFor((m) => m.getChildText('body') === 'this one stays');
    await alice.send(retract('bob@localhost', 'o-1'));
    // The retraction itself is delivered as sent (clients act on it).
    const delivered = await bob.waitFor((m) => m.getChild('retract', NS_RETRACT) !== undefined);
    expect(delivered.getChild('retract', NS_RETRACT)!.attrs.id).to.equal('o-1');

    // Already in both archives: the retraction went on only once the tombstones were written.
    for (const owner of [alice, bob]) {
      {
        const archive = await archiveOf(owner);
        const tombstone = archive.find((m) => m.attrs.from?.startsWith('alice@localhost') && m.getChild('origin-id', NS_SID)?.attrs.id === 'o-1' && m.getChild('retract', NS_RETRACT) === undefined)!;
        expect(tombstone.getChild('body'), tombstone.toString()).to.equal(undefined);
        expect(tombstone.getChild('active', 'http://jabber.org/protocol/chatstates')).to.equal(undefined);
        expect(tombstone.getChild('retracted', NS_RETRACT)!.attrs.stamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        expect(tombstone.attrs.id).to.equal('o-1');
        expect(tombstone.attrs.to).to.equal('bob@localhost');
        // Its neighbours are untouched, bob's message with the same id included, and the retraction is archived.
        expect(archive.find((m) => m.getChildText('body') === 'this one stays')).to.not.equal(undefined);
        expect(archive.find((m) => m.getChildText('body') === 'bob says the same id')).to.not.equal(undefined);
        expect(archive.filter((m) => m.getChild('retract', NS_RETRACT)?.attrs.id === 'o-1')).to.have.length(1);
      }
    }
  });

  it("does not let one party retract the other's message", async () => {
    await alice.send(chat('bob@localhost', 'alice wrote this', 'o-3'));
    await bob.waitFor((m) => m.getChildText('body') === 'alice wrote this');
    await bob.send(retract('alice@localhost', 'o-3'));
    await alice.waitFor((m) => m.getChild('retract', NS_RETRACT) !== undefined);
    // Once the retraction is archived, nothing it could have done is still pending.
    for (const owner of [alice, bob]) expect(byOrigin(await archiveOf(owner), 'o-3')!.getChildText('body')).to.equal('alice wrote this');
  });

  it('leaves the same id in another conversation alone', async () => {
    await alice.send(chat('bob@localhost', 'to bob', 'o-4'));
    await alice.send(chat('carol@localhost', 'to carol', 'o-4'));
    await carol.waitFor((m) => m.getChildText('body') === 'to carol');
    await alice.send(retract('bob@localhost', 'o-4'));
    await bob.waitFor((m) => m.getChild('retract', NS_RETRACT) !== undefined);
    expect(byOrigin(await archiveOf(bob), 'o-4')!.getChild('body')).to.equal(undefined);
    expect(byOrigin(await archiveOf(carol), 'o-4')!.getChildText('body')).to.equal('to carol');
    const alices = (await archiveOf(alice)).filter((m) => m.getChild('origin-id', NS_SID)?.attrs.id === 'o-4');
    expect(alices.map((m) => [m.attrs.to, m.getChildText('body')])).to.deep.equal([
      ['bob@localhost', undefined],
      ['carol@localhost', 'to carol'],
    ]);
  });

  it('finds a message whose id has XML special characters (stored escaped, named unescaped)', async () => {
    const id = `a&b<c>'d"e`;
    await alice.send(chat('bob@localhost', 'odd id', escapeAttr(id)));
    await bob.waitFor((m) => m.getChildText('body') === 'odd id');
    await alice.send(retract('bob@localhost', escapeAttr(id)));
    await bob.waitFor((m) => m.getChild('retract', NS_RETRACT) !== undefined);
    for (const owner of [alice, bob]) {
      const tombstone = byOrigin(await archiveOf(owner), id);
      expect(tombstone, 'the message, by its origin id').to.not.equal(undefined);
      expect(tombstone!.getChild('body')).to.equal(undefined);
      expect(tombstone!.getChild('retracted', NS_RETRACT)).to.not.equal(undefined);
    }
  });

  it('understands the earlier form (XEP-0424 0.3, <apply-to/>) and answers in kind', async () => {
    await alice.send(chat('bob@localhost', 'old client', 'o-5'));
    await bob.waitFor((m) => m.getChildText('body') === 'old client');
    await alice.send(`<message type='chat' to='bob@localhost' id='r-5'><apply-to xmlns='urn:xmpp:fasten:0' id='o-5'><retract xmlns='${NS_RETRACT_0}'/></apply-to><body>retracted</body></message>`);
    await bob.waitFor((m) => m.getChild('apply-to', 'urn:xmpp:fasten:0') !== undefined);
    {
      const tombstone = (await archiveOf(bob)).find((m) => m.getChild('retracted', NS_RETRACT_0) !== undefined);
      expect(tombstone, 'a tombstone in bob archive').to.not.equal(undefined);
      expect(tombstone!.getChild('body')).to.equal(undefined);
      const retracted = tombstone!.getChild('retracted', NS_RETRACT_0)!;
      expect(retracted.attrs.by).to.equal('alice@localhost');
      expect(retracted.getChild('origin-id', NS_SID)!.attrs.id).to.equal('o-5');
    }
  });
});

describe('XEP-0424 retraction of private messages through a room', () => {
  let ts: TestServer;
  afterEach(() => ts.stop());

  it("lets only the occupant who wrote a private message retract it: another occupant naming its id changes nothing (§7)", async () => {
    const ROOM = 'room@conference.localhost';
    ts = await TestServer.start([roster, presence, disco, muc, mam, retraction]);
    const [alice, bob, mallory] = await Promise.all(['alice@localhost/a', 'bob@localhost/b', 'mallory@localhost/m'].map((j) => ts.login(j)));
    for (const c of [alice!, bob!, mallory!]) await c.send('<presence/>');
    await createInstantRoom(alice!, ROOM, 'Alice');
    await joinRoom(bob!, ROOM, 'Bob');
    await joinRoom(mallory!, ROOM, 'Mallory');
    await alice!.send(chat(`${ROOM}/Bob`, 'secret from alice', 'pm-1'));
    await bob!.waitFor((m) => m.getChildText('body') === 'secret from alice');
    await mallory!.send(retract(`${ROOM}/Bob`, 'pm-1'));
    await bob!.waitFor((m) => m.getChild('retract', NS_RETRACT) !== undefined);
    expect((await archiveOf(bob!)).some((m) => m.getChildText('body') === 'secret from alice')).to.equal(true);
  });
});

