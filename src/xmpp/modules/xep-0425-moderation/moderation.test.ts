import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createInstantRoom, joinRoom, roomArchive as roomArchiveOf } from '../xep-0045-muc/test-support.js';
import occupantId, { NS_OCCUPANT_ID } from '../xep-0421-occupant-id/index.js';
import moderation, { NS_MODERATE, NS_RETRACT } from './index.js';

const ROOM = 'room@conference.localhost';
const roomArchive = (reader: TestClient): Promise<XmlElement[]> => roomArchiveOf(reader, ROOM);
const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const moderate = (id: string, reason = '') =>
  `<iq type='set' to='${ROOM}'><moderate xmlns='${NS_MODERATE}' id='${id}'><retract xmlns='${NS_RETRACT}'/>${reason === '' ? '' : `<reason>${reason}</reason>`}</moderate></iq>`;

describe('XEP-0425 moderated message retraction', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let spamId: string;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, muc, occupantId, moderation]);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
    carol = await ts.login('carol@localhost/c');
    await createInstantRoom(alice, ROOM, 'Alice');
    await joinRoom(bob, ROOM, 'Bob');
    await bob.send(`<message to='${ROOM}' type='groupchat' id='spam-1'><body>buy cheap potions</body></message>`);
    const seen = await alice.waitFor((m) => m.name === 'message' && m.getChildText('body') === 'buy cheap potions');
    spamId = seen.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id!;
  });
  afterEach(() => ts.stop());

  it('is listed in the room disco#info', async () => {
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_MODERATE);
  });

  it('tells every occupant, from the room, and leaves a tombstone in the archive and in the history newcomers get', async () => {
    const r = await alice.iq(moderate(spamId, 'spam'));
    expect(r.attrs.type, r.toString()).to.equal('result');
    for (const c of [alice, bob]) {
      const m = await c.waitFor((el) => el.name === 'message' && el.getChild('retract', NS_RETRACT) !== undefined);
      expect(m.attrs.from).to.equal(ROOM);
      const retract = m.getChild('retract', NS_RETRACT)!;
      expect(retract.attrs.id).to.equal(spamId);
      const moderated = retract.getChild('moderated', NS_MODERATE)!;
      expect(moderated.attrs.by).to.equal(`${ROOM}/Alice`);
      expect(moderated.getChild('occupant-id', NS_OCCUPANT_ID)?.attrs.id).to.be.a('string');
      expect(retract.getChildText('reason')).to.equal('spam');
    }

    const archived = await roomArchive(carol);
    const tombstone = archived.find((m) => m.getChild('retracted', NS_RETRACT) !== undefined)!;
    expect(tombstone.attrs.from).to.equal(`${ROOM}/Bob`);
    expect(tombstone.getChild('body')).to.equal(undefined);
    expect(tombstone.toString()).not.to.include('potions');
    expect(tombstone.getChild('occupant-id', NS_OCCUPANT_ID)).not.to.equal(undefined); // the author's, kept
    expect(tombstone.getChild('retracted', NS_RETRACT)!.getChild('moderated', NS_MODERATE)!.attrs.by).to.equal(`${ROOM}/Alice`);
    // The announcement is archived too, for clients that catch up with MAM.
    expect(archived.some((m) => m.getChild('retract', NS_RETRACT)?.attrs.id === spamId)).to.equal(true);

    await joinRoom(carol, ROOM, 'Carol');
    const history = carol.received.filter((m) => m.name === 'message' && m.getChild('delay', 'urn:xmpp:delay') !== undefined);
    expect(history.map((m) => m.toString()).join('')).not.to.include('potions');
    expect(history.some((m) => m.getChild('retracted', NS_RETRACT) !== undefined)).to.equal(true);
  });

  it('refuses a participant (forbidden) and an id the room never gave (item-not-found)', async () => {
    const byBob = await bob.iq(moderate(spamId));
    expect([byBob.attrs.type, condition(byBob)]).to.deep.equal(['error', 'forbidden']);
    const unknown = await alice.iq(moderate('no-such-id'));
    expect(condition(unknown)).to.equal('item-not-found');
    expect((await roomArchive(alice)).some((m) => m.getChildText('body') === 'buy cheap potions')).to.equal(true);
  });
});
