import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import caps from '../xep-0115-caps/index.js';
import pep, { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from '../xep-0163-pep/index.js';
import { availableWithCaps, condition, getItems, publish, subscribe } from '../xep-0163-pep/test-support.js';
import carbons, { NS_CARBONS, unwrapCarbon } from '../xep-0280-carbons/index.js';
import mam from '../xep-0313-mam/index.js';
import markers, { NS_MARKERS } from '../xep-0333-markers/index.js';
import muc from '../xep-0045-muc/index.js';
import { createRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import mds, { NS_MDS, NS_MDS_ASSIST } from './index.js';

const NS_MAM = 'urn:xmpp:mam:2';
const MODULES = [roster, presence, disco, caps, pep, mam, carbons, markers, mds];

/** A displayed marker for the contact combined with the server-assisted displayed element (XEP-0490 §4.5.3's example). */
function assisted(to: string, sid: string, extra = `<displayed xmlns='${NS_MARKERS}' id='m-1'/>`, type = 'chat'): string {
  return `<message type='${type}' to='${to}'>${extra}<displayed xmlns='${NS_MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${sid}'/></displayed></message>`;
}

/** Whether anything of XEP-0490's namespace is left in what a client received. */
const leaks = (s: XmlElement): boolean => s.toString().includes(NS_MDS);
const marker = (s: XmlElement): boolean => s.name === 'message' && s.getChild('displayed', NS_MARKERS) !== undefined;

/** The node's items as the owner's client reads them: item id → the `<displayed/>` stanza-id's id. */
async function displayedItems(c: TestClient): Promise<Map<string, string | undefined>> {
  const r = await c.iq(getItems('alice@localhost', NS_MDS));
  expect(r.attrs.type, r.toString()).to.equal('result');
  const items = r.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item');
  return new Map(items.map((i) => [i.attrs.id!, i.getChild('displayed', NS_MDS)?.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.id]));
}

let queries = 0;
/** The messages of `c`'s archive, through a MAM query as a client makes it. */
async function archived(c: TestClient): Promise<XmlElement[]> {
  const queryid = `q${queries++}`;
  const fin = await c.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='${queryid}'/></iq>`);
  expect(fin.attrs.type).to.equal('result');
  return c.all((s) => s.getChild('result', NS_MAM)?.attrs.queryid === queryid).map((s) => s.getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!);
}

describe('XEP-0490 message displayed synchronization, server assist', () => {
  let ts: TestServer;
  let alicePhone: TestClient;
  let aliceDesk: TestClient;
  let bob: TestClient;

  async function start(overrides: Record<string, unknown> = {}, modules = MODULES): Promise<void> {
    ts = await TestServer.start(modules, overrides);
    alicePhone = await ts.login('alice@localhost/phone');
    aliceDesk = await ts.login('alice@localhost/desk');
    bob = await ts.login('bob@localhost/pc');
    for (const c of [alicePhone, bob]) await c.send('<presence/>');
    await availableWithCaps(aliceDesk, [`${NS_MDS}+notify`]);
    await aliceDesk.iq(`<iq type='set'><enable xmlns='${NS_CARBONS}'/></iq>`);
  }
  afterEach(() => ts.stop());

  describe('with the default configuration', () => {
    beforeEach(() => start());

    it("advertises urn:xmpp:mds:server-assist:0 on the account's bare JID", async () => {
      const info = await alicePhone.iq(`<iq type='get' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
      expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_MDS_ASSIST);
    });

    it('delivers, archives and carbon-copies the marker without the element, and publishes it to the node under the verbatim to', async () => {
      await alicePhone.send(assisted('bob@localhost', 'sid-1'));

      const got = await bob.waitFor(marker);
      expect(got.getChild('displayed', NS_MARKERS)!.attrs.id).to.equal('m-1');
      expect(leaks(got), got.toString()).to.equal(false);

      const carbon = aliceDesk.all((s) => unwrapCarbon(s)?.kind === 'sent').map((s) => unwrapCarbon(s)!.message);
      expect(carbon.filter(marker), 'sent carbon of the marker').to.have.length(1);
      expect(leaks(carbon[0]!), carbon[0]!.toString()).to.equal(false);

      for (const [who, c] of [['alice', alicePhone], ['bob', bob]] as const) {
        const messages = (await archived(c)).filter(marker);
        expect(messages, `${who}'s archive`).to.have.length(1);
        expect(leaks(messages[0]!), messages[0]!.toString()).to.equal(false);
      }

      expect(await displayedItems(alicePhone)).to.deep.equal(new Map([['bob@localhost', 'sid-1']]));
      const form = await alicePhone.iq(`<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='${NS_MDS}'/></pubsub></iq>`);
      const fields = new Map(form.getChild('pubsub', NS_PUBSUB_OWNER)!.getChild('configure')!.getChild('x', 'jabber:x:data')!.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]));
      expect([fields.get('pubsub#access_model'), fields.get('pubsub#max_items'), fields.get('pubsub#persist_items'), fields.get('pubsub#send_last_published_item')]).to.deep.equal(['whitelist', 'max', '1', 'never']);
    });

    it('sends the PEP event to another device of the user whose caps ask for +notify', async () => {
      await alicePhone.send(assisted('bob@localhost', 'sid-1'));
      const ev = await aliceDesk.waitFor((s) => s.getChild('event', NS_PUBSUB_EVENT)?.getChild('items')?.attrs.node === NS_MDS);
      expect(ev.attrs.from).to.equal('alice@localhost');
      const item = ev.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!;
      expect(item.attrs.id).to.equal('bob@localhost');
      expect(item.getChild('displayed', NS_MDS)!.getChild('stanza-id', 'urn:xmpp:sid:0')!.attrs.id).to.equal('sid-1');
    });

    it('replaces the item of a chat with the next assisted marker for it', async () => {
      await alicePhone.send(assisted('bob@localhost', 'sid-1'));
      await alicePhone.send(assisted('bob@localhost', 'sid-2'));
      await alicePhone.send(assisted('bob@localhost/pc', 'sid-3'));
      expect(await displayedItems(alicePhone)).to.deep.equal(new Map([['bob@localhost', 'sid-2'], ['bob@localhost/pc', 'sid-3']]));
    });

    it('keeps the node from other users, contacts included (whitelist)', async () => {
      await subscribe(bob, alicePhone);
      await alicePhone.send(assisted('bob@localhost', 'sid-1'));
      const r = await bob.iq(getItems('alice@localhost', NS_MDS));
      expect(r.attrs.type).to.equal('error');
      expect(condition(r)).to.equal('not-allowed');
    });

    it('answers a message that would be empty without the element with bad-request, publishing and delivering nothing', async () => {
      await alicePhone.send(`<message type='chat' to='bob@localhost' id='empty-1'><origin-id xmlns='urn:xmpp:sid:0' id='o-1'/><store xmlns='urn:xmpp:hints'/><displayed xmlns='${NS_MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='sid-1'/></displayed></message>`);
      const err = await alicePhone.waitFor((s) => s.name === 'message' && s.attrs.id === 'empty-1');
      expect(err.attrs.type).to.equal('error');
      expect(condition(err)).to.equal('bad-request');
      await alicePhone.send(`<message type='chat' to='bob@localhost'><body>after</body></message>`);
      await bob.waitFor((s) => s.getChildText('body') === 'after');
      expect(bob.all((s) => s.name === 'message' && s.attrs.id === 'empty-1')).to.have.length(0);
      expect(condition(await alicePhone.iq(getItems('alice@localhost', NS_MDS)))).to.equal('item-not-found');
    });
  });

  it("gives way with the chat marked longest ago when the node holds PEP's item limit, where other nodes at 'max' refuse", async () => {
    await start({ modules: { options: { pep: { maxItemsLimit: 2 } } } });
    await alicePhone.send(assisted('carol@localhost', 'sid-1'));
    await alicePhone.send(assisted('dave@localhost', 'sid-2'));
    await alicePhone.send(assisted('carol@localhost', 'sid-3'));
    // Full: carol was marked last, so dave's item goes for erin's.
    await alicePhone.send(assisted('erin@localhost', 'sid-4'));
    expect(await displayedItems(alicePhone)).to.deep.equal(new Map([['carol@localhost', 'sid-3'], ['erin@localhost', 'sid-4']]));
    // A client publishing to the node itself, as plain XEP-0490 does, is not refused either.
    const direct = await alicePhone.iq(publish(NS_MDS, `<displayed xmlns='${NS_MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='sid-5'/></displayed>`, undefined, 'frank@localhost'));
    expect(direct.attrs.type, direct.toString()).to.equal('result');
    expect([...(await displayedItems(alicePhone)).keys()]).to.deep.equal(['erin@localhost', 'frank@localhost']);
    // Another node at 'max' keeps the user's data and refuses instead.
    const max = { 'pubsub#max_items': 'max' };
    for (const id of ['a', 'b']) expect((await alicePhone.iq(publish('urn:example:kept', `<x xmlns='urn:example'/>`, max, id))).attrs.type).to.equal('result');
    expect(condition(await alicePhone.iq(publish('urn:example:kept', `<x xmlns='urn:example'/>`, max, 'c')))).to.equal('conflict');
  });

  it("holds an assisted item to PEP's payload limit, as a client's own publish is, and still delivers the marker", async () => {
    await start({ modules: { options: { pep: { maxPayloadBytes: 1024 } } } });
    const big = `<displayed xmlns='${NS_MDS}'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='${'é'.repeat(600)}'/></displayed>`;
    const direct = await alicePhone.iq(publish(NS_MDS, big, undefined, 'bob@localhost'));
    expect([direct.attrs.type, direct.getChild('error')?.getChild('payload-too-big') !== undefined]).to.deep.equal(['error', true]);
    await alicePhone.send(`<message type='chat' to='bob@localhost'><displayed xmlns='${NS_MARKERS}' id='m-1'/>${big}</message>`);
    const got = await bob.waitFor(marker);
    expect(leaks(got), got.toString()).to.equal(false);
    expect(condition(await alicePhone.iq(getItems('alice@localhost', NS_MDS)))).to.equal('item-not-found');
    // A 'to' too long to be an item id (PEP's limit, 1,024 bytes) is not published either; the message still goes.
    const longTo = `${'x'.repeat(1100)}@example.org`;
    await alicePhone.send(assisted(longTo, 'sid-1'));
    await alicePhone.send(`<message type='chat' to='bob@localhost'><body>after</body></message>`);
    await bob.waitFor((m) => m.getChildText('body') === 'after');
    expect(condition(await alicePhone.iq(getItems('alice@localhost', NS_MDS)))).to.equal('item-not-found');
  });

  it('still delivers the stripped marker when the publish fails', async () => {
    await start({ modules: { options: { pep: { maxNodes: 1 } } } });
    const other = await alicePhone.iq(publish('urn:example:other', `<x xmlns='urn:example'/>`));
    expect(other.attrs.type).to.equal('result');
    await alicePhone.send(assisted('bob@localhost', 'sid-1'));
    const got = await bob.waitFor(marker);
    expect(leaks(got), got.toString()).to.equal(false);
    expect(condition(await alicePhone.iq(getItems('alice@localhost', NS_MDS)))).to.equal('item-not-found');
  });

  it('takes a groupchat message\'s room JID and a private message\'s occupant JID as item ids, and strips the element from both', async () => {
    await start({}, [...MODULES, muc]);
    const room = 'tea@conference.localhost';
    await createRoom(alicePhone, room, 'alice');
    await joinRoom(bob, room, 'bob');
    await alicePhone.send(assisted(room, 'room-sid-1', `<displayed xmlns='${NS_MARKERS}' id='g-1'/>`, 'groupchat'));
    await alicePhone.send(assisted(`${room}/bob`, 'pm-sid-1', `<displayed xmlns='${NS_MARKERS}' id='p-1'/>`));
    const inRoom = await bob.waitFor((s) => s.getChild('displayed', NS_MARKERS)?.attrs.id === 'g-1');
    const pm = await bob.waitFor((s) => s.getChild('displayed', NS_MARKERS)?.attrs.id === 'p-1');
    expect([inRoom.attrs.type, pm.attrs.from]).to.deep.equal(['groupchat', `${room}/alice`]);
    expect([leaks(inRoom), leaks(pm)]).to.deep.equal([false, false]);
    expect(await displayedItems(alicePhone)).to.deep.equal(new Map([[room, 'room-sid-1'], [`${room}/bob`, 'pm-sid-1']]));
  });
});
