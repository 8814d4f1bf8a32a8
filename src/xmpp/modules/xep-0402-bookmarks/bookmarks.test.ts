import { expect } from 'chai';
import { MemoryStore } from '../../../storage/memory/index.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import roster from '../rfc6121-roster/index.js';
import presence from '../rfc6121-presence/index.js';
import disco from '../xep-0030-disco/index.js';
import privateXml from '../xep-0049-private/index.js';
import caps from '../xep-0115-caps/index.js';
import pep from '../xep-0163-pep/index.js';
import bookmarks from './index.js';

const WITHOUT_COMPAT = [roster, presence, disco, caps, pep, privateXml];
const MODULES = [...WITHOUT_COMPAT, bookmarks];
const NS = 'urn:xmpp:bookmarks:1';

describe('XEP-0402 bookmarks #compat with XEP-0048 private storage', () => {
  let ts: TestServer;
  let alice: TestClient;
  let store: MemoryStore;

  beforeEach(async () => {
    store = new MemoryStore();
    ts = await TestServer.start(MODULES, {}, store);
    alice = await ts.login('alice@localhost/modern');
  });
  afterEach(() => ts.stop());

  const publish = (c: TestClient, room: string, conference: string): Promise<XmlElement> =>
    c.iq(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${NS}'><item id='${room}'>${conference}</item></publish>` +
      `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
      `<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>` +
      `<field var='pubsub#send_last_published_item'><value>never</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`);

  async function pepItems(c: TestClient): Promise<Map<string, XmlElement>> {
    const r = await c.iq(`<iq type='get'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${NS}'/></pubsub></iq>`);
    if (r.attrs.type === 'error') return new Map();
    const items = r.getChild('pubsub')!.getChild('items')!.getChildren('item');
    return new Map(items.map((i) => [i.attrs.id!, i.getChild('conference', NS)!]));
  }

  async function privateList(c: TestClient): Promise<XmlElement> {
    const r = await c.iq(`<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`);
    return r.getChild('query')!.getChild('storage', 'storage:bookmarks')!;
  }

  const storePrivate = (c: TestClient, inner: string): Promise<XmlElement> =>
    c.iq(`<iq type='set'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>${inner}</storage></query></iq>`);

  it('advertises #compat on the account', async () => {
    const info = await alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(`${NS}#compat`);
  });

  it('shows bookmarks published by an XEP-0402 client to a client reading private storage, keeping its web bookmarks', async () => {
    await storePrivate(alice, `<url name='Docs' url='https://example.org/'/>`);
    const r = await publish(alice, 'council@conference.localhost', `<conference xmlns='${NS}' name='Council' autojoin='true'><nick>Puck</nick><extensions><x xmlns='urn:example'/></extensions></conference>`);
    expect(r.attrs.type, r.toString()).to.equal('result');
    await publish(alice, 'tea@conference.localhost', `<conference xmlns='${NS}' name='Tea'/>`);

    const list = await privateList(alice);
    const rooms = list.getChildren('conference').map((c) => ({ ...c.attrs, nick: c.getChildText('nick') }));
    expect(rooms).to.deep.equal([
      { jid: 'council@conference.localhost', name: 'Council', autojoin: 'true', nick: 'Puck' },
      { jid: 'tea@conference.localhost', name: 'Tea', autojoin: 'false', nick: undefined },
    ]);
    expect(list.getChildren('url').map((u) => u.attrs.url)).to.deep.equal(['https://example.org/']);

    const retract = await alice.iq(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='${NS}' notify='true'><item id='tea@conference.localhost'/></retract></pubsub></iq>`);
    expect(retract.attrs.type).to.equal('result');
    expect((await privateList(alice)).getChildren('conference').map((c) => c.attrs.jid)).to.deep.equal(['council@conference.localhost']);
  });

  it('applies a list stored by an XEP-0048 client to the PEP node item by item, keeping extensions it does not know', async () => {
    await publish(alice, 'council@conference.localhost', `<conference xmlns='${NS}' name='Council'><extensions><pinned xmlns='urn:xmpp:bookmarks-pinning:0'/></extensions></conference>`);
    await publish(alice, 'old@conference.localhost', `<conference xmlns='${NS}' name='Old'/>`);
    const legacy = await ts.login('alice@localhost/legacy');
    const r = await storePrivate(legacy, `<conference jid='council@conference.localhost' name='Council of Oberon' autojoin='1'><nick>Puck</nick></conference>` +
      `<conference jid='new@conference.localhost' name='New'/><conference jid='not a jid' name='Broken'/>`);
    expect(r.attrs.type).to.equal('result');

    const items = await pepItems(alice);
    expect([...items.keys()].sort()).to.deep.equal(['council@conference.localhost', 'new@conference.localhost']);
    const council = items.get('council@conference.localhost')!;
    expect(council.attrs).to.include({ name: 'Council of Oberon', autojoin: 'true' });
    expect(council.getChildText('nick')).to.equal('Puck');
    expect(council.getChild('extensions')?.getChild('pinned', 'urn:xmpp:bookmarks-pinning:0')).to.not.equal(undefined);
    // The private list reads back normalised: what could not become a bookmark is gone.
    expect((await privateList(legacy)).getChildren('conference').map((c) => c.attrs.jid)).to.deep.equal(['council@conference.localhost', 'new@conference.localhost']);
  });

  it('applies a re-stored list by what changed only, so an unchanged list wakes no client', async () => {
    // Stored as an XEP-0402 client wrote them, not as the server would write them.
    await publish(alice, 'council@conference.localhost', `<conference xmlns='${NS}' autojoin='1' name='Council'>\n  <nick>Puck</nick>\n</conference>`);
    await publish(alice, 'tea@conference.localhost', `<conference xmlns='${NS}' name='Tea'><extensions><pinned xmlns='urn:xmpp:bookmarks-pinning:0'/></extensions></conference>`);
    await publish(alice, 'old@conference.localhost', `<conference xmlns='${NS}' name='Old' autojoin='false'/>`);
    const published: string[] = [];
    const changes: string[] = [];
    ts.server.hooks.add('pep/published', ({ node, itemId }) => void (node === NS && published.push(itemId)));
    ts.server.hooks.add('pep/node-changed', ({ node }) => void (node === NS && changes.push(node)));

    const legacy = await ts.login('alice@localhost/legacy');
    const list = await privateList(legacy);
    expect((await storePrivate(legacy, list.children.map((c) => c.toString()).join(''))).attrs.type).to.equal('result');
    expect(published, 'an unchanged list republishes nothing').to.deep.equal([]);
    expect(changes, 'an unchanged list retracts nothing').to.deep.equal([]);

    await storePrivate(legacy, `<conference jid='council@conference.localhost' name='Council' autojoin='true'><nick>Oberon</nick></conference>` +
      `<conference jid='tea@conference.localhost' name='Tea' autojoin='false'/><conference jid='new@conference.localhost' name='New'/>`);
    expect(published, 'only the changed and the added item').to.deep.equal(['council@conference.localhost', 'new@conference.localhost']);
    expect(changes, 'two publications and one retraction').to.have.length(3);
    const items = await pepItems(alice);
    expect([...items.keys()].sort()).to.deep.equal(['council@conference.localhost', 'new@conference.localhost', 'tea@conference.localhost']);
    expect(items.get('council@conference.localhost')!.getChildText('nick')).to.equal('Oberon');
    expect(items.get('tea@conference.localhost')!.getChild('extensions')?.getChild('pinned', 'urn:xmpp:bookmarks-pinning:0')).to.not.equal(undefined);
  });

  it('applies a list that swaps one bookmark on a node as full as the service allows', async () => {
    await ts.stop();
    ts = await TestServer.start(MODULES, { modules: { options: { pep: { maxItemsLimit: 2 } } } });
    alice = await ts.login('alice@localhost/modern');
    await storePrivate(alice, "<conference jid='a@muc.localhost'/><conference jid='b@muc.localhost'/>");
    const r = await storePrivate(alice, "<conference jid='a@muc.localhost'/><conference jid='c@muc.localhost'/>");
    expect(r.attrs.type).to.equal('result');
    expect([...(await pepItems(alice)).keys()].sort()).to.deep.equal(['a@muc.localhost', 'c@muc.localhost']);
  });

  it('copies bookmarks that exist only in private storage to PEP when a client first asks for them', async () => {
    await ts.stop();
    ts = await TestServer.start(WITHOUT_COMPAT, {}, store);
    const before = await ts.login('alice@localhost/legacy');
    await storePrivate(before, `<conference jid='kept@conference.localhost' name='Kept' autojoin='true'/>`);
    await ts.stop();

    ts = await TestServer.start(MODULES, {}, store);
    alice = await ts.login('alice@localhost/modern');
    const items = await pepItems(alice);
    expect([...items.keys()]).to.deep.equal(['kept@conference.localhost']);
    expect(items.get('kept@conference.localhost')!.attrs).to.include({ name: 'Kept', autojoin: 'true' });
  });

  it('never touches another account\'s bookmarks', async () => {
    const bob = await ts.login('bob@localhost/pc');
    await storePrivate(bob, `<conference jid='bobs@conference.localhost' name='Bob'/>`);
    expect((await pepItems(alice)).size).to.equal(0);
    expect((await privateList(alice)).getChildren('conference')).to.have.length(0);
    const peek = await alice.iq(`<iq type='get' to='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${NS}'/></pubsub></iq>`);
    expect(peek.attrs.type).to.equal('error');
  });
});
