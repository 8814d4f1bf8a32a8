import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_SID } from '../../stanza-id.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createInstantRoom, joinRoom, roomArchive } from '../xep-0045-muc/test-support.js';
import occupantId, { NS_OCCUPANT_ID } from '../xep-0421-occupant-id/index.js';
import { NS_RETRACT } from './index.js';
import mucRetraction from './muc.js';

const ROOM = 'room@conference.localhost';

const retract = (id: string): string =>
  `<message to='${ROOM}' type='groupchat' id='r-${id}'><retract xmlns='${NS_RETRACT}' id='${id}'/><fallback xmlns='urn:xmpp:fallback:0' for='${NS_RETRACT}'/><body>/me retracted a message</body></message>`;

describe('XEP-0424 message retraction in rooms', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  /** Bob says `body` in the room; returns the room's stanza id for it, as Alice saw it. */
  async function bobSays(body: string, originId: string): Promise<string> {
    await bob.send(`<message to='${ROOM}' type='groupchat' id='${originId}'><body>${body}</body><origin-id xmlns='${NS_SID}' id='${originId}'/></message>`);
    const seen = await alice.waitFor((m) => m.name === 'message' && m.getChildText('body') === body);
    return seen.getChildren('stanza-id', NS_SID).find((s) => s.attrs.by === ROOM)!.attrs.id!;
  }

  const retractionSeen = (c: TestClient, id: string): Promise<XmlElement> => c.waitFor((m) => m.name === 'message' && m.getChild('retract', NS_RETRACT)?.attrs.id === id);

  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, muc, occupantId, mucRetraction]);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
    carol = await ts.login('carol@localhost/c');
    await createInstantRoom(alice, ROOM, 'Alice');
    await joinRoom(bob, ROOM, 'Bob');
  });
  afterEach(() => ts.stop());

  it('is listed in the room disco#info', async () => {
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_RETRACT);
  });

  it("replaces the author's message by stanza id in the archive and in the history newcomers get, and relays the retraction", async () => {
    const id = await bobSays('my card number is 4111', 'b-1');
    await bobSays('never mind', 'b-2');
    await bob.send(retract(id));
    await retractionSeen(alice, id);

    const archived = await roomArchive(carol, ROOM);
    const tombstone = archived.find((m) => m.getChild('retracted', NS_RETRACT) !== undefined)!;
    expect(tombstone, archived.map((m) => m.toString()).join('\n')).to.not.equal(undefined);
    expect(tombstone.attrs.from).to.equal(`${ROOM}/Bob`);
    expect(tombstone.toString()).not.to.include('4111');
    expect(tombstone.getChild('occupant-id', NS_OCCUPANT_ID)).to.not.equal(undefined);
    expect(tombstone.getChild('origin-id', NS_SID)!.attrs.id).to.equal('b-1');
    expect(archived.some((m) => m.getChildText('body') === 'never mind')).to.equal(true);
    expect(archived.some((m) => m.getChild('retract', NS_RETRACT)?.attrs.id === id)).to.equal(true);

    await joinRoom(carol, ROOM, 'Carol');
    const history = carol.received.filter((m) => m.name === 'message' && m.getChild('delay', 'urn:xmpp:delay') !== undefined);
    expect(history.map((m) => m.toString()).join('')).not.to.include('4111');
    const buried = history.find((m) => m.getChild('retracted', NS_RETRACT) !== undefined)!;
    expect(buried.getChildren('stanza-id', NS_SID).some((s) => s.attrs.id === id)).to.equal(true);
  });

  it('finds the message by its origin id too', async () => {
    await bobSays('typo hree', 'b-3');
    await bob.send(retract('b-3'));
    await retractionSeen(alice, 'b-3');
    const archived = await roomArchive(alice, ROOM);
    expect(archived.some((m) => m.getChildText('body') === 'typo hree')).to.equal(false);
    expect(archived.filter((m) => m.getChild('retracted', NS_RETRACT) !== undefined)).to.have.length(1);
  });

  it('acts on and archives a retraction without a fallback body (only a <store/> hint, or nothing)', async () => {
    const card = await bobSays('my card number is 4111', 'b-5');
    const pin = await bobSays('and the pin is 1234', 'b-6');
    await bob.send(`<message to='${ROOM}' type='groupchat' id='r-5'><retract xmlns='${NS_RETRACT}' id='${card}'/><store xmlns='urn:xmpp:hints'/></message>`);
    await bob.send(`<message to='${ROOM}' type='groupchat' id='r-6'><retract xmlns='${NS_RETRACT}' id='${pin}'/></message>`);
    await retractionSeen(alice, pin);
    const archived = await roomArchive(carol, ROOM);
    const text = archived.map((m) => m.toString()).join('\n');
    expect(text).not.to.include('4111');
    expect(text).not.to.include('1234');
    expect(archived.filter((m) => m.getChild('retract', NS_RETRACT) !== undefined).map((m) => m.getChild('retract', NS_RETRACT)!.attrs.id)).to.deep.equal([card, pin]);
  });

  it("leaves another occupant's message alone, the moderator's included", async () => {
    const id = await bobSays('mine, not yours', 'b-4');
    await alice.send(retract(id));
    await retractionSeen(bob, id);
    const archived = await roomArchive(alice, ROOM);
    expect(archived.some((m) => m.getChildText('body') === 'mine, not yours')).to.equal(true);
    expect(archived.some((m) => m.getChild('retracted', NS_RETRACT) !== undefined)).to.equal(false);
  });
});
