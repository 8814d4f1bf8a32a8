import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import disco from '../xep-0030-disco/index.js';
import vcard from '../xep-0054-vcard/index.js';
import muc, { NS_MUC_ADMIN, NS_MUC_OWNER } from './index.js';
import { configureRoom, createRoom, errorCondition as condition, joinRoom, statusCodes as codes } from './test-support.js';

const ROOM = 'room@conference.localhost';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_VCARD = 'vcard-temp';
const NS_VCARD_UPDATE = 'vcard-temp:x:update';
const MODULES = [roster, presence, disco, vcard, muc];

// The images of XEP-0486's examples, with the hashes the XEP gives for them.
const SVG = 'PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIzMiIgaGVpZ2h0PSIzMiI+CiA8cmVjdCB4PSIwIiB5PSIwIiB3aWR0aD0iMzIiIGhlaWdodD0iMzIiIGZpbGw9InJlZCIvPgo8L3N2Zz4K';
const SVG_HASH = 'a31c4bd04de69663cfd7f424a8453f4674da37ff';
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAACAAAAAgAQMAAABJtOi3AAAAB3RJTUUH4ggVERoVAPsrMgAAAAlwSFlzAAALEgAACxIB0t1+/AAAABl0RVh0U29mdHdhcmUAd3d3Lmlua3NjYXBlLm9yZ5vuPBoAAAAEZ0FNQQAAsY8L/GEFAAAAIGNIUk0AAHomAACAhAAA+gAAAIDoAAB1MAAA6mAAADqYAAAXcJy6UTwAAAAGUExURf8AAP///0EdNBEAAAABYktHRAH/Ai3eAAAADElEQVQI12NgGNwAAACgAAFhJX1HAAAAAElFTkSuQmCC';
const PNG_HASH = 'b9b256f999ded52c2fa14fb007c2e5b979450cbb';

const photo = (type: string, b64: string): string => `<PHOTO><TYPE>${type}</TYPE><BINVAL>${b64}</BINVAL></PHOTO>`;
const setVcard = (c: TestClient, content: string, to = ROOM): Promise<XmlElement> => c.iq(`<iq type='set' to='${to}'><vCard xmlns='${NS_VCARD}'>${content}</vCard></iq>`);
const getVcard = (c: TestClient, to = ROOM): Promise<XmlElement> => c.iq(`<iq type='get' to='${to}'><vCard xmlns='${NS_VCARD}'/></iq>`);
const ok = (r: XmlElement): XmlElement => {
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r;
};
/** The BINVALs of the vCard an iq result carries. */
const binvals = (r: XmlElement): string[] => ok(r).getChild('vCard', NS_VCARD)!.getChildren('PHOTO').map((p) => p.getChildText('BINVAL') ?? '');

async function discoInfo(c: TestClient, to = ROOM): Promise<{ features: string[]; avatarHashes: string[] | undefined }> {
  const q = ok(await c.iq(`<iq type='get' to='${to}'><query xmlns='${DISCO_INFO}'/></iq>`)).getChild('query', DISCO_INFO)!;
  const field = q.getChild('x', 'jabber:x:data')?.getChildren('field').find((f) => f.attrs.var === 'muc#roominfo_avatarhash');
  return { features: q.getChildren('feature').map((f) => f.attrs.var!), avatarHashes: field?.getChildren('value').map((v) => v.getText()) };
}

/** The XEP-0153 photo hashes of the presences `c` got from the room's bare JID, in order ('' for an empty `<photo/>`). */
const avatarPresences = (c: TestClient): string[] =>
  c.all((el) => el.name === 'presence' && el.attrs.from === ROOM && el.getChild('x', NS_VCARD_UPDATE) !== undefined).map((p) => p.getChild('x', NS_VCARD_UPDATE)!.getChildText('photo') ?? '');

/** XEP-0486 MUC Avatars: a room's vCard, set by its owners, on its bare JID. */
describe('XEP-0486 room avatars (vcard-temp on the room)', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  async function start(options: Record<string, unknown> = {}, modules = MODULES): Promise<void> {
    ts = await TestServer.start(modules, { modules: { options } });
    alice = await ts.login('alice@localhost/a');
    bob = await ts.login('bob@localhost/b');
    carol = await ts.login('carol@localhost/c');
  }
  afterEach(async () => {
    await ts.stop();
  });

  describe('on one server', () => {
    beforeEach(async () => {
      await start();
      await createRoom(alice, ROOM, 'Alice');
    });

    it('answers an empty vCard while none is set, and the room and the service advertise vcard-temp', async () => {
      const r = ok(await getVcard(carol));
      expect(r.attrs.from).to.equal(ROOM);
      expect(r.getChild('vCard', NS_VCARD)!.elements()).to.deep.equal([]);
      const room = await discoInfo(carol);
      expect(room.features).to.include(NS_VCARD);
      expect(room.avatarHashes, 'no avatar, no field (XEP-0486 §4)').to.equal(undefined);
      expect((await discoInfo(carol, 'conference.localhost')).features, 'XEP-0486 §3.1: what clients check first').to.include(NS_VCARD);
      expect(ok(await getVcard(carol, 'conference.localhost')).getChild('vCard', NS_VCARD)!.elements()).to.deep.equal([]);
    });

    it("stores the owner's vCard and gives it to an occupant and to a user who is not in the room; the hashes are in disco#info", async () => {
      await joinRoom(bob, ROOM, 'Bob');
      ok(await setVcard(alice, `<FN>The Garden</FN>${photo('image/svg+xml', SVG)}${photo('image/png', PNG)}`));
      for (const c of [bob, carol]) {
        const r = await getVcard(c);
        expect(binvals(r)).to.deep.equal([SVG, PNG]);
        expect(r.getChild('vCard', NS_VCARD)!.getChildText('FN')).to.equal('The Garden');
      }
      // XEP-0486 §5.1: one hash per PHOTO, SHA-1 of its bytes (XEP-0153).
      expect((await discoInfo(carol)).avatarHashes).to.deep.equal([SVG_HASH, PNG_HASH]);
      // An empty vCard removes it (§3.2).
      ok(await setVcard(alice, ''));
      expect(ok(await getVcard(carol)).getChild('vCard', NS_VCARD)!.elements()).to.deep.equal([]);
      expect((await discoInfo(carol)).avatarHashes).to.equal(undefined);
    });

    it('refuses a vCard from anyone but an owner (forbidden), admins and occupants included, and keeps the one set', async () => {
      ok(await setVcard(alice, photo('image/png', PNG)));
      await joinRoom(bob, ROOM, 'Bob');
      ok(await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='carol@localhost' affiliation='admin'/></query></iq>`));
      for (const c of [bob, carol]) {
        const r = await setVcard(c, photo('image/svg+xml', SVG));
        expect(r.attrs.type, r.toString()).to.equal('error');
        expect(condition(r)).to.equal('forbidden');
      }
      expect(binvals(await getVcard(bob))).to.deep.equal([PNG]);
    });

    it('tells the occupants of each change of the avatar: status 104 (XEP-0486 §3.2) and a presence from the room with its XEP-0153 hash', async () => {
      await joinRoom(bob, ROOM, 'Bob');
      bob.clear();
      ok(await setVcard(alice, photo('image/svg+xml', SVG)));
      const update = await bob.waitFor((el) => el.name === 'presence' && el.attrs.from === ROOM);
      expect(update.attrs.type, 'an available presence, as XEP-0486 §5.2 shows it').to.equal(undefined);
      expect(update.getChild('x', NS_VCARD_UPDATE)!.getChildText('photo')).to.equal(SVG_HASH);
      const notice = bob.all((el) => el.name === 'message' && el.attrs.from === ROOM && el.attrs.type === 'groupchat');
      expect(notice.map(codes)).to.deep.equal([['104']]);
      // A vCard whose photo is the same is no new avatar; its removal is one (XEP-0153: an empty <photo/>).
      ok(await setVcard(alice, `<FN>Renamed</FN>${photo('image/svg+xml', SVG)}`));
      ok(await setVcard(alice, ''));
      await bob.waitFor((el) => el.name === 'presence' && el.attrs.from === ROOM && el.getChild('x', NS_VCARD_UPDATE)?.getChildText('photo') === '');
      expect(avatarPresences(bob)).to.deep.equal([SVG_HASH, '']);
      expect(avatarPresences(alice), 'the owner is an occupant too').to.deep.equal([SVG_HASH, '']);
    });

    it('shows the avatar of a members-only room to its members only, and never to its outcasts', async () => {
      ok(await setVcard(alice, photo('image/png', PNG)));
      ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_membersonly': '1' }));
      ok(await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='bob@localhost' affiliation='member'/></query></iq>`));
      expect(binvals(await getVcard(bob))).to.deep.equal([PNG]);
      expect((await discoInfo(bob)).avatarHashes).to.deep.equal([PNG_HASH]);
      expect(condition(await getVcard(carol))).to.equal('forbidden');
      expect((await discoInfo(carol)).avatarHashes, 'nor its hash').to.equal(undefined);
      ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_membersonly': '0' }));
      expect(binvals(await getVcard(carol))).to.deep.equal([PNG]);
      ok(await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_ADMIN}'><item jid='carol@localhost' affiliation='outcast'/></query></iq>`));
      expect(condition(await getVcard(carol))).to.equal('forbidden');
    });

    it("relays a vCard request to an occupant's JID to that occupant's account, apart from the room's own vCard", async () => {
      ok(await alice.iq(`<iq type='set'><vCard xmlns='${NS_VCARD}'><FN>Alice Liddell</FN></vCard></iq>`));
      ok(await setVcard(alice, '<FN>The Garden</FN>'));
      await joinRoom(bob, ROOM, 'Bob');
      const occupant = ok(await getVcard(bob, `${ROOM}/Alice`));
      expect(occupant.attrs.from).to.equal(`${ROOM}/Alice`);
      expect(occupant.getChild('vCard', NS_VCARD)!.getChildText('FN')).to.equal('Alice Liddell');
      expect(ok(await getVcard(bob)).getChild('vCard', NS_VCARD)!.getChildText('FN')).to.equal('The Garden');
    });

    it('removes the vCard with the room when the room is destroyed: a new room of that name has none', async () => {
      ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' }));
      ok(await setVcard(alice, photo('image/png', PNG)));
      expect(await ts.store.get('muc_rooms', ROOM, 'vcard')).to.be.a('string');
      ok(await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><destroy/></query></iq>`));
      expect(await ts.store.get('muc_rooms', ROOM, 'vcard')).to.equal(undefined);
      alice.clear();
      await createRoom(alice, ROOM, 'Alice');
      expect(ok(await getVcard(carol)).getChild('vCard', NS_VCARD)!.elements()).to.deep.equal([]);
      expect((await discoInfo(carol)).avatarHashes).to.equal(undefined);
    });

    it('keeps the avatar of a stored room when the store fails: the owner is told wait', async () => {
      ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' }));
      ok(await setVcard(alice, photo('image/png', PNG)));
      ts.store.failing = new Error('down');
      let r: XmlElement;
      try {
        r = await setVcard(alice, photo('image/svg+xml', SVG));
      } finally {
        ts.store.failing = null;
      }
      expect(r.attrs.type, r.toString()).to.equal('error');
      expect(r.getChild('error')!.attrs.type).to.equal('wait');
      expect(binvals(await getVcard(carol))).to.deep.equal([PNG]);
      expect((await discoInfo(carol)).avatarHashes).to.deep.equal([PNG_HASH]);
    });
  });

  describe('limits and restarts', () => {
    it("refuses a vCard over the vcard module's size limit (not-acceptable) and keeps the one set", async () => {
      await start({ vcard: { maxBytes: 2048 } });
      await createRoom(alice, ROOM, 'Alice');
      ok(await setVcard(alice, photo('image/png', PNG)));
      const r = await setVcard(alice, `<DESC>${'x'.repeat(2100)}</DESC>`);
      expect(r.attrs.type, r.toString()).to.equal('error');
      expect(condition(r)).to.equal('not-acceptable');
      expect(binvals(await getVcard(carol))).to.deep.equal([PNG]);
    });

    it("holds rooms to the vcard module's default limit when that module is not loaded", async () => {
      await start({}, [roster, presence, disco, muc]);
      await createRoom(alice, ROOM, 'Alice');
      // Within the stanza size limit (256 KiB), over 128 KiB of vCard.
      expect(condition(await setVcard(alice, `<DESC>${'x'.repeat(130 * 1024)}</DESC>`))).to.equal('not-acceptable');
      ok(await setVcard(alice, `<DESC>${'x'.repeat(1024)}</DESC>`));
    });

    it('keeps the vCard of a persistent room across a restart, also one set while the room was locked, before it was stored', async () => {
      await start();
      // A locked room (§10.1.1): its owner sets the avatar, then configures it persistent.
      await joinRoom(alice, ROOM, 'Alice');
      ok(await setVcard(alice, photo('image/svg+xml', SVG)));
      ok(await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' }));
      const other = 'other@conference.localhost';
      await createRoom(alice, other, 'Alice');
      ok(await configureRoom(alice, other, { 'muc#roomconfig_persistentroom': '1' }));
      ok(await setVcard(alice, photo('image/png', PNG), other));
      const store = ts.store;
      await ts.stop();
      ts = await TestServer.start(MODULES, {}, store);
      carol = await ts.login('carol@localhost/c');
      expect(binvals(await getVcard(carol))).to.deep.equal([SVG]);
      expect((await discoInfo(carol)).avatarHashes).to.deep.equal([SVG_HASH]);
      expect(binvals(await getVcard(carol, other))).to.deep.equal([PNG]);
      expect((await discoInfo(carol, other)).avatarHashes).to.deep.equal([PNG_HASH]);
    });
  });
});
