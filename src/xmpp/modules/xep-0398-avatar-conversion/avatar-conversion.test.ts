import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import vcard from '../xep-0054-vcard/index.js';
import caps from '../xep-0115-caps/index.js';
import pep from '../xep-0163-pep/index.js';
import avatarConversion, { injectPhotoHash, NS_CONVERSION } from './index.js';
import { parseXml } from '../../stream/parse-xml.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a0c40000000049454e44ae426082', 'hex');
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

function publish(node: string, id: string, payload: string): string {
  return `<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item id='${id}'>${payload}</item></publish></pubsub></iq>`;
}

/** Publishes an avatar as XEP-0084 clients do: the data, then the metadata pointing at it. */
async function publishAvatar(client: TestClient, image: Buffer, id = sha1(image)): Promise<void> {
  const data = await client.iq(publish('urn:xmpp:avatar:data', id, `<data xmlns='urn:xmpp:avatar:data'>${image.toString('base64')}</data>`));
  expect(data.attrs.type).to.equal('result');
  const meta = await client.iq(publish('urn:xmpp:avatar:metadata', id, `<metadata xmlns='urn:xmpp:avatar:metadata'><info id='${id}' type='image/png' bytes='${image.length}' width='1' height='1'/><info id='elsewhere' type='image/png' url='https://example.org/a.png' bytes='1'/></metadata>`));
  expect(meta.attrs.type).to.equal('result');
}

const photoOf = (p: XmlElement): string | undefined => p.getChild('x', 'vcard-temp:x:update')?.getChildText('photo');

describe('XEP-0398 avatar conversion', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeEach(async () => {
    ts = await TestServer.start([roster, presence, disco, caps, pep, vcard, avatarConversion]);
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/pc');
    await bob.send(`<presence to='alice@localhost' type='subscribe'/>`);
    await alice.send(`<presence to='bob@localhost' type='subscribed'/>`);
    await bob.send(`<presence/>`);
  });
  afterEach(() => ts.stop());

  it('advertises the conversion on the account', async () => {
    const r = await alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(r.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_CONVERSION);
  });

  it('puts a PEP avatar into the vCard, and its hash into presence, broadcast and directed', async () => {
    await publishAvatar(alice, PNG);
    const card = (await bob.iq(`<iq type='get' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)).getChild('vCard', 'vcard-temp')!;
    expect(card.getChild('PHOTO')!.getChildText('TYPE')).to.equal('image/png');
    expect(Buffer.from(card.getChild('PHOTO')!.getChildText('BINVAL')!, 'base64').equals(PNG)).to.equal(true);

    bob.received.length = 0;
    await alice.send(`<presence><show>away</show></presence>`);
    const broadcast = await bob.waitFor((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/phone');
    expect(photoOf(broadcast)).to.equal(sha1(PNG));
    await alice.send(`<presence to='bob@localhost/pc'/>`);
    const directed = await bob.waitFor((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/phone' && e.getChild('show') === undefined);
    expect(photoOf(directed)).to.equal(sha1(PNG));
  });

  it('keeps the vCard when the data does not match its id, and clears the photo when the avatar is turned off', async () => {
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`);
    await publishAvatar(alice, PNG, 'a'.repeat(40));
    let card = (await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`)).getChild('vCard', 'vcard-temp')!;
    expect(card.getChild('PHOTO')).to.equal(undefined);
    await publishAvatar(alice, PNG);
    await alice.iq(publish('urn:xmpp:avatar:metadata', 'off', `<metadata xmlns='urn:xmpp:avatar:metadata'/>`));
    card = (await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`)).getChild('vCard', 'vcard-temp')!;
    expect(card.getChild('PHOTO')).to.equal(undefined);
    expect(card.getChildText('FN'), 'the rest of the vCard stays').to.equal('Alice');
  });

  it('takes the hash of a photo set through vCard by an older client, and for sessions bound later', async () => {
    const image = Buffer.concat([PNG, Buffer.from('x')]);
    await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>${image.toString('base64')}</BINVAL></PHOTO></vCard></iq>`);
    // Every session of alice's gone, so the next one reads the hash back from the table.
    ts.server.sessions.get('alice@localhost/phone')!.close();
    const laptop = await ts.login('alice@localhost/laptop');
    bob.received.length = 0;
    await laptop.send(`<presence/>`);
    expect(photoOf(await bob.waitFor((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/laptop'))).to.equal(sha1(image));
  });

  it("does not copy into the public vCard an avatar its owner restricted to a whitelist (XEP-0398 §6)", async () => {
    await publishAvatar(alice, PNG);
    const restricted = Buffer.concat([PNG, Buffer.from('z')]);
    const id = sha1(restricted);
    const config = `<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:avatar:data'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub></iq>`;
    expect((await alice.iq(config)).attrs.type).to.equal('result');
    await alice.iq(publish('urn:xmpp:avatar:data', id, `<data xmlns='urn:xmpp:avatar:data'>${restricted.toString('base64')}</data>`));
    await alice.iq(publish('urn:xmpp:avatar:metadata', id, `<metadata xmlns='urn:xmpp:avatar:metadata'><info id='${id}' type='image/png' bytes='${restricted.length}'/></metadata>`));
    const carol = await ts.login('carol@localhost/x');
    const card = (await carol.iq(`<iq type='get' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)).getChild('vCard', 'vcard-temp')!;
    expect(card.toString()).not.to.include(restricted.toString('base64'));
    expect(card.getChild('PHOTO'), 'nor is the earlier public one left as if it were current').to.equal(undefined);
  });

  it('publishes a photo set through vCard as the PEP avatar (XEP-0398 §3.2), so XEP-0084 contacts see it too', async () => {
    const image = Buffer.concat([PNG, Buffer.from('y')]);
    const id = sha1(image);
    bob.received.length = 0;
    const set = await alice.iq(`<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${image.toString('base64')}</BINVAL></PHOTO></vCard></iq>`);
    expect(set.attrs.type).to.equal('result');
    const items = async (node: string) => (await alice.iq(`<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${node}'/></pubsub></iq>`)).getChild('pubsub')!.getChild('items')!.getChildren('item');
    const [data] = await items('urn:xmpp:avatar:data');
    expect(data!.attrs.id).to.equal(id);
    expect(Buffer.from(data!.getChildText('data')!, 'base64').equals(image)).to.equal(true);
    const [meta] = await items('urn:xmpp:avatar:metadata');
    const info = meta!.getChild('metadata', 'urn:xmpp:avatar:metadata')!.getChild('info')!;
    expect(info.attrs).to.include({ id, type: 'image/png', bytes: String(image.length) });
    const card = (await alice.iq(`<iq type='get'><vCard xmlns='vcard-temp'/></iq>`)).getChild('vCard', 'vcard-temp')!;
    expect(card.getChildren('PHOTO'), 'the vCard keeps its one photo').to.have.length(1);
    expect(card.getChildText('FN')).to.equal('Alice');
  });

  it('says "no avatar" with an empty photo once the avatar is gone, overwriting an empty x (XEP-0153 §4.1, XEP-0398 §4)', async () => {
    await publishAvatar(alice, PNG);
    await alice.iq(publish('urn:xmpp:avatar:metadata', 'off', `<metadata xmlns='urn:xmpp:avatar:metadata'/>`));
    bob.received.length = 0;
    await alice.send(`<presence><show>away</show></presence>`);
    const removed = await bob.waitFor((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/phone');
    expect(photoOf(removed), 'contacts must learn the old avatar is gone').to.equal('');
    bob.received.length = 0;
    await alice.send(`<presence><show>dnd</show><x xmlns='vcard-temp:x:update'/></presence>`);
    expect(photoOf(await bob.waitFor((e) => e.name === 'presence' && e.attrs.from === 'alice@localhost/phone'))).to.equal('');
  });

  it("leaves a presence's own photo element alone (an empty one means no avatar)", () => {
    const none = parseXml(`<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>`);
    injectPhotoHash(none, 'abc');
    expect(photoOf(none)).to.equal('');
    const bare = parseXml(`<presence><x xmlns='vcard-temp:x:update'/></presence>`);
    injectPhotoHash(bare, 'abc');
    expect(photoOf(bare)).to.equal('abc');
    const plain = parseXml(`<presence><status>hi</status></presence>`);
    injectPhotoHash(plain, 'abc');
    expect(photoOf(plain)).to.equal('abc');
  });
});
