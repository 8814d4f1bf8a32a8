import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from '../xep-0045-muc/index.js';
import { createInstantRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import occupantId, { NS_OCCUPANT_ID } from './index.js';

const ROOM = 'room@conference.localhost';
const OTHER = 'other@conference.localhost';
const MODULES = [roster, presence, disco, muc, occupantId];
const idOf = (el: XmlElement): string[] => el.getChildren('occupant-id', NS_OCCUPANT_ID).map((o) => o.attrs.id!);

describe('XEP-0421 occupant ids', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let bob2: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start(MODULES);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/phone');
    bob2 = await ts.login('bob@localhost/laptop');
    await createInstantRoom(alice, ROOM, 'Alice');
    await createInstantRoom(alice, OTHER, 'Alice');
  });
  afterEach(() => ts.stop());

  it('is listed in the room disco#info', async () => {
    const info = await bob.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_OCCUPANT_ID);
  });

  it('is listed by the service domain too, as every room of it gives ids (§4)', async () => {
    const info = await bob.iq(`<iq type='get' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_OCCUPANT_ID);
  });

  it('gives one account one id in a room, across nicks and clients, another in another room, and drops ids clients make up', async () => {
    await joinRoom(bob, ROOM, 'Bob');
    const bobPresence = await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob`);
    const [id] = idOf(bobPresence);
    expect(id).to.be.a('string').with.length.greaterThan(20);

    await bob.send(`<message to='${ROOM}' type='groupchat'><body>hi</body><occupant-id xmlns='${NS_OCCUPANT_ID}' id='forged'/></message>`);
    const msg = await alice.waitFor((el) => el.name === 'message' && el.attrs.from === `${ROOM}/Bob` && el.getChildText('body') === 'hi');
    expect(idOf(msg)).to.deep.equal([id]);

    await joinRoom(bob2, ROOM, 'Bobby');
    const other = await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bobby`);
    expect(idOf(other)).to.deep.equal([id]);

    const aliceSelf = await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Alice`);
    expect(idOf(aliceSelf)).to.have.length(1);
    expect(idOf(aliceSelf)[0]).not.to.equal(id);

    await joinRoom(bob, OTHER, 'Bob');
    const elsewhere = await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${OTHER}/Bob`);
    expect(idOf(elsewhere)).to.have.length(1);
    expect(idOf(elsewhere)[0]).not.to.equal(id);

    await bob.send(`<message to='${ROOM}/Alice' type='chat'><body>psst</body></message>`);
    const pm = await alice.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'psst');
    expect(idOf(pm)).to.deep.equal([id]);
  });

  it('keeps the ids when the server restarts on the same store', async () => {
    await joinRoom(bob, ROOM, 'Bob');
    const before = idOf(await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob`))[0];
    await ts.stop();
    ts = await TestServer.start(MODULES, {}, ts.store);
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/phone');
    await createInstantRoom(alice, ROOM, 'Alice');
    await joinRoom(bob, ROOM, 'Bob');
    const after = idOf(await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob`))[0];
    expect(after).to.equal(before);
  });

  it("puts the occupant's id on the presence that tells it the room was destroyed (§4: every presence the room sends)", async () => {
    await joinRoom(bob, ROOM, 'Bob');
    const [id] = idOf(await alice.waitFor((el) => el.name === 'presence' && el.attrs.from === `${ROOM}/Bob`));
    const destroyed = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`);
    expect(destroyed.attrs.type, destroyed.toString()).to.equal('result');
    const gone = await bob.waitFor((el) => el.name === 'presence' && el.attrs.type === 'unavailable' && el.attrs.from === `${ROOM}/Bob`);
    expect(idOf(gone), gone.toString()).to.deep.equal([id]);
  });
});
