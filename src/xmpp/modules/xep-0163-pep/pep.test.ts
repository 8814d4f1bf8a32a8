import { expect } from 'chai';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { eventually } from '../../../testing/eventually.js';
import { parseXml } from '../../stream/parse-xml.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS } from '../xep-0030-disco/index.js';
import { capsVer } from '../xep-0115-caps/ver.js';
import { NS_PUBSUB, NS_PUBSUB_EVENT, NS_PUBSUB_OWNER } from './index.js';
import { AVATAR_META, startPep, startPepEachTest, DEVICELIST, MOOD, NS_CAPS, appCondition, availableWithCaps, condition, event, getItems, publish, subscribe } from './test-support.js';

describe('XEP-0163 PEP', () => {
  const pep = startPepEachTest();

  it('advertises pubsub/pep and the PEP features on the account', async () => {
    const r = await pep.alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`);
    const q = r.getChild('query')!;
    expect(q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.include('pubsub/pep');
    const features = q.getChildren('feature').map((f) => f.attrs.var);
    for (const f of ['publish', 'publish-options', 'auto-create', 'access-presence', 'access-open', 'access-whitelist', 'retrieve-items', 'retract-items', 'item-ids', 'persistent-items', 'last-published', 'multi-items', 'config-node-max']) {
      expect(features).to.include(`${NS_PUBSUB}#${f}`);
    }
  });

  it('also shows pubsub/pep and the PEP features on the domain, where Smack looks for OMEMO and OX support', async () => {
    const q = (await pep.alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`)).getChild('query')!;
    expect(q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.include.members(['server/im', 'pubsub/pep']);
    const features = q.getChildren('feature').map((f) => f.attrs.var);
    expect(features).to.include.members([NS_PUBSUB, `${NS_PUBSUB}#access-whitelist`, `${NS_PUBSUB}#publish-options`]);
  });

  it('shows node management only on the account, so that generic pubsub clients do not take the domain for a pubsub service', async () => {
    const management = ['create-nodes', 'delete-nodes', 'purge-nodes', 'config-node', 'modify-affiliations', 'retrieve-items'].map((f) => `${NS_PUBSUB}#${f}`);
    const domain = (await pep.alice.iq(`<iq type='get' to='localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`)).getChild('query')!;
    expect(domain.getChildren('feature').map((f) => f.attrs.var).filter((f) => management.includes(f!))).to.deep.equal([]);
    // The domain itself refuses them (aioxmpp's e2e suite sent this create to the domain).
    const create = await pep.alice.iq(`<iq type='set' to='localhost'><pubsub xmlns='${NS_PUBSUB}'><create node='n1'/></pubsub></iq>`);
    expect([create.attrs.type, condition(create)]).to.deep.equal(['error', 'service-unavailable']);
    const account = (await pep.alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_INFO}'/></iq>`)).getChild('query')!;
    expect(account.getChildren('feature').map((f) => f.attrs.var)).to.include.members(management);
  });

  describe('disco of a node (XEP-0060 §5.4, §5.5)', () => {
    const nodeInfo = (owner: string, node: string) => `<iq type='get' to='${owner}'><query xmlns='${NS_DISCO_INFO}' node='${node}'/></iq>`;
    const nodeItems = (owner: string, node: string) => `<iq type='get' to='${owner}'><query xmlns='${NS_DISCO_ITEMS}' node='${node}'/></iq>`;

    it('answers a stranger for an open node: a leaf, and its items by id', async () => {
      await pep.alice.iq(publish(DEVICELIST, `<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>`, { 'pubsub#access_model': 'open' }, 'current'));
      const info = await pep.dave.iq(nodeInfo('alice@localhost', DEVICELIST));
      expect(info.attrs.type).to.equal('result');
      const q = info.getChild('query', NS_DISCO_INFO)!;
      expect(q.attrs.node).to.equal(DEVICELIST);
      expect(q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).to.deep.equal(['pubsub/leaf']);
      expect(q.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_PUBSUB);
      const items = (await pep.dave.iq(nodeItems('alice@localhost', DEVICELIST))).getChild('query', NS_DISCO_ITEMS)!.getChildren('item');
      expect(items.map((i) => [i.attrs.jid, i.attrs.name])).to.deep.equal([['alice@localhost', 'current']]);
    });

    it('hides a presence-access node from a stranger as it hides a missing one, and shows it to a contact', async () => {
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
      // As if there were no account at all (XEP-0030 §8), so neither tells the stranger anything.
      for (const node of [MOOD, 'no-such-node']) {
        const r = await pep.dave.iq(nodeInfo('alice@localhost', node));
        expect([r.attrs.type, condition(r)]).to.deep.equal(['error', 'service-unavailable']);
        const items = await pep.dave.iq(nodeItems('alice@localhost', node));
        expect([items.attrs.type, condition(items)]).to.deep.equal(['error', 'service-unavailable']);
      }
      await subscribe(pep.bob, pep.alice);
      await eventually(async () => expect((await pep.bob.iq(nodeInfo('alice@localhost', MOOD))).attrs.type).to.equal('result'));
      expect((await pep.alice.iq(nodeInfo('alice@localhost', MOOD))).attrs.type).to.equal('result');
    });
  });

  describe('OMEMO-style publishing', () => {
    it('auto-creates an open devicelist that a stranger can read', async () => {
      const devices = `<list xmlns='eu.siacs.conversations.axolotl'><device id='31415'/></list>`;
      const r = await pep.alice.iq(publish(DEVICELIST, devices, { 'pubsub#access_model': 'open' }, 'current'));
      expect(r.attrs.type).to.equal('result');
      expect(r.getChild('pubsub', NS_PUBSUB)!.getChild('publish')!.getChild('item')!.attrs.id).to.equal('current');
      const got = await pep.dave.iq(getItems('alice@localhost', DEVICELIST));
      expect(got.attrs.type).to.equal('result');
      const items = got.getChild('pubsub', NS_PUBSUB)!.getChild('items')!.getChildren('item');
      expect(items.map((i) => i.attrs.id)).to.deep.equal(['current']);
      expect(items[0]!.getChild('list', 'eu.siacs.conversations.axolotl')!.getChild('device')!.attrs.id).to.equal('31415');
    });

    it("keeps every item of a max_items='max' node, one item of a default node", async () => {
      const bundle = (n: string) => `<bundle xmlns='urn:xmpp:omemo:2'><spk id='${n}'>x</spk></bundle>`;
      const opts = { 'pubsub#access_model': 'open', 'pubsub#max_items': 'max' };
      expect((await pep.alice.iq(publish('urn:xmpp:omemo:2:bundles', bundle('1'), opts, '1'))).attrs.type).to.equal('result');
      expect((await pep.alice.iq(publish('urn:xmpp:omemo:2:bundles', bundle('2'), opts, '2'))).attrs.type).to.equal('result');
      const all = await pep.dave.iq(getItems('alice@localhost', 'urn:xmpp:omemo:2:bundles'));
      expect(all.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['1', '2']);
      const one = await pep.dave.iq(`<iq type='get' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><items node='urn:xmpp:omemo:2:bundles'><item id='2'/></items></pubsub></iq>`);
      expect(one.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['2']);
      const newest = await pep.dave.iq(getItems('alice@localhost', 'urn:xmpp:omemo:2:bundles', " max_items='1'"));
      expect(newest.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['2']);

      // Default node: max_items 1 (XEP-0163 §5); ids are generated when absent.
      const a = await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
      const b = await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><sad/></mood>`));
      const idA = a.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id;
      const idB = b.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id;
      expect(idA).to.be.a('string').and.not.equal(idB);
      const moods = await pep.alice.iq(getItems('alice@localhost', MOOD));
      const items = moods.getChild('pubsub')!.getChild('items')!.getChildren('item');
      expect(items.map((i) => i.attrs.id)).to.deep.equal([idB]);
      expect(items[0]!.getChild('mood', MOOD)!.getChild('sad')).to.not.equal(undefined);
    });

    it("refuses a new item on a full 'max' node (bookmarks) rather than drop the oldest, and drops it on a node that asked for N (XEP-0060 §7.1.2.5, §7.1.3.4)", async () => {
      const { ts: small, alice: owner } = await startPep({ modules: { options: { pep: { maxItemsLimit: 3 } } } });
      try {
        const B = 'urn:xmpp:bookmarks:1';
        const bookmark = (id: string) => publish(B, `<conference xmlns='${B}' name='${id}'/>`, { 'pubsub#access_model': 'whitelist', 'pubsub#max_items': '10000' }, id);
        for (const id of ['r1@muc', 'r2@muc', 'r3@muc']) expect((await owner.iq(bookmark(id))).attrs.type).to.equal('result');
        const full = await owner.iq(bookmark('r4@muc'));
        expect([condition(full), appCondition(full)]).to.deep.equal(['conflict', 'node-full']);
        // Changing a bookmark it holds still works.
        expect((await owner.iq(bookmark('r1@muc'))).attrs.type).to.equal('result');
        const kept = await owner.iq(getItems('alice@localhost', B));
        expect(kept.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['r2@muc', 'r3@muc', 'r1@muc']);

        const N = 'urn:example:recent';
        for (const id of ['a', 'b', 'c']) await owner.iq(publish(N, `<n xmlns='urn:example'/>`, { 'pubsub#max_items': '2' }, id));
        const recent = await owner.iq(getItems('alice@localhost', N));
        expect(recent.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['b', 'c']);
      } finally {
        await small.stop();
      }
    });

    it('answers conflict/precondition-not-met for other options on an existing node, and publishes once reconfigured', async () => {
      await pep.alice.iq(publish(DEVICELIST, `<list xmlns='eu.siacs.conversations.axolotl'/>`, { 'pubsub#access_model': 'open' }));
      const r = await pep.alice.iq(publish(DEVICELIST, `<list xmlns='eu.siacs.conversations.axolotl'/>`, { 'pubsub#access_model': 'presence' }));
      expect(r.attrs.type).to.equal('error');
      expect(condition(r)).to.equal('conflict');
      expect(appCondition(r)).to.equal('precondition-not-met');

      const form = await pep.alice.iq(`<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='${DEVICELIST}'/></pubsub></iq>`);
      const field = form.getChild('pubsub')!.getChild('configure')!.getChild('x')!.getChildren('field').find((f) => f.attrs.var === 'pubsub#access_model')!;
      expect(field.getChildText('value')).to.equal('open');
      const set = await pep.alice.iq(
        `<iq type='set'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='${DEVICELIST}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>presence</value></field></x></configure></pubsub></iq>`,
      );
      expect(set.attrs.type).to.equal('result');
      const again = await pep.alice.iq(publish(DEVICELIST, `<list xmlns='eu.siacs.conversations.axolotl'/>`, { 'pubsub#access_model': 'presence' }));
      expect(again.attrs.type).to.equal('result');
    });

    it('creates a new node with the publish-options it was given', async () => {
      await pep.alice.iq(publish('urn:xmpp:bookmarks:1', `<conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'/>`, { 'pubsub#access_model': 'whitelist', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never' }, 'room@muc.localhost'));
      const form = await pep.alice.iq(`<iq type='get'><pubsub xmlns='${NS_PUBSUB_OWNER}'><configure node='urn:xmpp:bookmarks:1'/></pubsub></iq>`);
      const values = Object.fromEntries(form.getChild('pubsub')!.getChild('configure')!.getChild('x')!.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]));
      expect(values['pubsub#access_model']).to.equal('whitelist');
      expect(values['pubsub#max_items']).to.equal('max');
      expect(values['pubsub#send_last_published_item']).to.equal('never');
    });
  });

  describe('access models', () => {
    it('whitelist (XEP-0223 private storage): only the owner reads', async () => {
      await subscribe(pep.bob, pep.alice);
      await subscribe(pep.alice, pep.bob);
      const r = await pep.alice.iq(publish('urn:xmpp:bookmarks:1', `<conference xmlns='urn:xmpp:bookmarks:1'/>`, { 'pubsub#access_model': 'whitelist', 'pubsub#persist_items': 'true' }, 'r@muc.localhost'));
      expect(r.attrs.type).to.equal('result');
      const denied = await pep.bob.iq(getItems('alice@localhost', 'urn:xmpp:bookmarks:1'));
      expect(denied.attrs.type).to.equal('error');
      expect(condition(denied)).to.equal('not-allowed');
      expect(appCondition(denied)).to.equal('closed-node');
      expect(denied.toString()).to.not.include('conference');
      const own = await pep.alice.iq(getItems('alice@localhost', 'urn:xmpp:bookmarks:1'));
      expect(own.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['r@muc.localhost']);
    });

    it('presence: a subscribed contact reads, a stranger is answered as for no account; disco#items lists what one may read', async () => {
      await subscribe(pep.bob, pep.alice);
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
      await pep.alice.iq(publish('urn:xmpp:bookmarks:1', `<conference xmlns='urn:xmpp:bookmarks:1'/>`, { 'pubsub#access_model': 'whitelist' }, 'r@muc.localhost'));
      const ok = await pep.bob.iq(getItems('alice@localhost', MOOD));
      expect(ok.attrs.type).to.equal('result');
      expect(ok.getChild('pubsub')!.getChild('items')!.getChildren('item')).to.have.length(1);
      // With no node open to him, presence-subscription-required would tell dave the account exists (account-privacy.test.ts).
      const no = await pep.dave.iq(getItems('alice@localhost', MOOD));
      expect(condition(no)).to.equal('service-unavailable');
      const missing = await pep.bob.iq(getItems('alice@localhost', 'urn:xmpp:nothing'));
      expect(condition(missing)).to.equal('item-not-found');

      const items = await pep.bob.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`);
      expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.node)).to.deep.equal([MOOD]);
      const own = await pep.alice.iq(`<iq type='get' to='alice@localhost'><query xmlns='${NS_DISCO_ITEMS}'/></iq>`);
      expect(own.getChild('query')!.getChildren('item').map((i) => i.attrs.node).sort()).to.deep.equal([MOOD, 'urn:xmpp:bookmarks:1'].sort());
    });

    it('only the owner publishes, retracts and configures', async () => {
      await subscribe(pep.bob, pep.alice);
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'm1'));
      const pub = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><publish node='${MOOD}'><item><mood xmlns='${MOOD}'/></item></publish></pubsub></iq>`);
      expect(condition(pub)).to.equal('forbidden');
      const ret = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB}'><retract node='${MOOD}'><item id='m1'/></retract></pubsub></iq>`);
      expect(condition(ret)).to.equal('forbidden');
      const del = await pep.bob.iq(`<iq type='set' to='alice@localhost'><pubsub xmlns='${NS_PUBSUB_OWNER}'><delete node='${MOOD}'/></pubsub></iq>`);
      expect(condition(del)).to.equal('forbidden');
    });
  });

  describe('notifications', () => {
    it('sends avatar metadata to a subscribed contact whose caps ask for +notify, not to one whose caps do not', async () => {
      const carol = await pep.ts.login('carol@localhost/pc');
      await subscribe(pep.bob, pep.alice);
      await subscribe(carol, pep.alice);
      await availableWithCaps(pep.bob, [`${AVATAR_META}+notify`, `${MOOD}+notify`]);
      await availableWithCaps(carol, [`${MOOD}+notify`]);
      await availableWithCaps(pep.dave, [`${AVATAR_META}+notify`]); // no subscription: gets nothing
      const meta = `<metadata xmlns='${AVATAR_META}'><info bytes='12345' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' height='64' width='64' type='image/png'/></metadata>`;
      const r = await pep.alice.iq(publish(AVATAR_META, meta, undefined, '111f4b3c50d7b0df729d299bc6f8e9ef9066971f'));
      expect(r.attrs.type).to.equal('result');
      const msg = await pep.bob.waitFor(event(AVATAR_META));
      expect(msg.attrs.type).to.equal('headline');
      expect(msg.attrs.from).to.equal('alice@localhost');
      expect(msg.attrs.to).to.equal('bob@localhost/pc');
      const item = msg.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!;
      expect(item.attrs.id).to.equal('111f4b3c50d7b0df729d299bc6f8e9ef9066971f');
      expect(item.getChild('metadata', AVATAR_META)!.getChild('info')!.attrs.bytes).to.equal('12345');
      // Their caps were known before the publish, whose notifications go out before its result.
      expect(carol.all(event(AVATAR_META))).to.have.length(0);
      expect(pep.dave.all(event(AVATAR_META))).to.have.length(0);
    });

    it("notifies the owner's own resources", async () => {
      const tablet = await pep.ts.login('alice@localhost/tablet');
      await tablet.send('<presence/>'); // no caps: nothing to filter on
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
      const msg = await tablet.waitFor(event(MOOD));
      expect(msg.attrs.from).to.equal('alice@localhost');
    });

    it('sends a retract notification', async () => {
      await subscribe(pep.bob, pep.alice);
      await availableWithCaps(pep.bob, [`${MOOD}+notify`]);
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'm1'));
      await pep.bob.waitFor(event(MOOD));
      const r = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><retract node='${MOOD}' notify='true'><item id='m1'/></retract></pubsub></iq>`);
      expect(r.attrs.type).to.equal('result');
      const msg = await pep.bob.waitFor((e) => event(MOOD)(e) && e.getChild('event')!.getChild('items')!.getChild('retract') !== undefined);
      expect(msg.getChild('event')!.getChild('items')!.getChild('retract')!.attrs.id).to.equal('m1');
      const after = await pep.alice.iq(getItems('alice@localhost', MOOD));
      expect(after.getChild('pubsub')!.getChild('items')!.getChildren('item')).to.have.length(0);
      const again = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><retract node='${MOOD}'><item id='m1'/></retract></pubsub></iq>`);
      expect(condition(again)).to.equal('item-not-found');
    });

    it('retracts all the items asked for or none: one unknown id fails the request and keeps the others (§7.2.3)', async () => {
      const node = 'urn:example:notes';
      for (const id of ['a', 'b']) await pep.alice.iq(publish(node, `<note xmlns='urn:example'/>`, { 'pubsub#max_items': '10' }, id));
      const r = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><retract node='${node}'><item id='a'/><item id='nope'/></retract></pubsub></iq>`);
      expect(condition(r)).to.equal('item-not-found');
      const left = await pep.alice.iq(getItems('alice@localhost', node));
      expect(left.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).to.deep.equal(['a', 'b']);
    });

    it('sends the last published item when a contact comes online with +notify, and when its caps start asking for a node', async () => {
      await subscribe(pep.bob, pep.alice);
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'last'));
      await pep.alice.iq(publish('http://jabber.org/protocol/tune', `<tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist></tune>`, undefined, 't1'));
      expect(pep.bob.all(event(MOOD))).to.have.length(0);
      await availableWithCaps(pep.bob, [`${MOOD}+notify`]);
      const msg = await pep.bob.waitFor(event(MOOD));
      expect(msg.getChild('event')!.getChild('items')!.getChild('item')!.attrs.id).to.equal('last');
      expect(pep.bob.all(event('http://jabber.org/protocol/tune'))).to.have.length(0);
      // New caps that add tune+notify: the last tune follows (Smack's testNotificationAfterFilterChange).
      await availableWithCaps(pep.bob, [`${MOOD}+notify`, 'http://jabber.org/protocol/tune+notify']);
      const tune = await pep.bob.waitFor(event('http://jabber.org/protocol/tune'));
      expect(tune.getChild('event')!.getChild('items')!.getChild('item')!.attrs.id).to.equal('t1');
      expect(pep.bob.all(event(MOOD))).to.have.length(1);
    });

    it('follows a federated contact: its presence and caps (asked over the federation route) decide its notifications', async () => {
      const romeo = 'romeo@remote.example/balcony';
      const features = [NS_DISCO_INFO, NS_CAPS, `${MOOD}+notify`];
      const ver = capsVer([{ category: 'client', type: 'pc' }], features, []);
      const outbound: XmlElement[] = [];
      pep.ts.server.hooks.add('route/remote', ({ stanza }) => {
        outbound.push(stanza);
        const q = stanza.getChild('query', NS_DISCO_INFO);
        if (stanza.name === 'iq' && q !== undefined) {
          const reply = parseXml(
            `<iq type='result' id='${stanza.attrs.id}' from='${romeo}' to='${stanza.attrs.from}'><query xmlns='${NS_DISCO_INFO}' node='${q.attrs.node}'><identity category='client' type='pc'/>${features.map((f) => `<feature var='${f}'/>`).join('')}</query></iq>`,
          );
          void pep.ts.server.route(reply);
        }
        return true;
      });
      // romeo subscribes to alice's presence.
      await pep.ts.server.route(parseXml(`<presence type='subscribe' from='romeo@remote.example' to='alice@localhost'/>`));
      await pep.alice.send(`<presence type='subscribed' to='romeo@remote.example'/>`);
      await pep.ts.server.route(parseXml(`<presence from='${romeo}' to='alice@localhost'><c xmlns='${NS_CAPS}' hash='sha-1' node='https://remote.example' ver='${ver}'/></presence>`));
      await eventually(() => expect(outbound.some((s) => s.name === 'iq' && s.attrs.to === romeo)).to.equal(true));
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'fed'));
      const note = await eventually(() => {
        const m = outbound.find((s) => s.name === 'message' && s.attrs.to === romeo);
        expect(m).to.not.equal(undefined);
        return m!;
      });
      expect(note.attrs.from).to.equal('alice@localhost');
      expect(note.getChild('event', NS_PUBSUB_EVENT)!.getChild('items')!.getChild('item')!.attrs.id).to.equal('fed');
      // Once romeo is unavailable, nothing more goes to him.
      await pep.ts.server.route(parseXml(`<presence type='unavailable' from='${romeo}' to='alice@localhost'/>`));
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><sad/></mood>`, undefined, 'fed2'));
      expect(outbound.filter((s) => s.name === 'message' && s.attrs.to === romeo)).to.have.length(1);
    });

    it('notifies the deletion of a node', async () => {
      await subscribe(pep.bob, pep.alice);
      await availableWithCaps(pep.bob, [`${MOOD}+notify`]);
      await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
      const del = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB_OWNER}'><delete node='${MOOD}'/></pubsub></iq>`);
      expect(del.attrs.type).to.equal('result');
      await pep.bob.waitFor((e) => e.name === 'message' && e.getChild('event', NS_PUBSUB_EVENT)?.getChild('delete')?.attrs.node === MOOD);
      const gone = await pep.alice.iq(getItems('alice@localhost', MOOD));
      expect(condition(gone)).to.equal('item-not-found');
    });
  });

  it('rejects publishes without a node or payload', async () => {
    const noNode = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><publish><item><x xmlns='y'/></item></publish></pubsub></iq>`);
    expect(appCondition(noNode)).to.equal('nodeid-required');
    const noPayload = await pep.alice.iq(`<iq type='set'><pubsub xmlns='${NS_PUBSUB}'><publish node='n'><item/></publish></pubsub></iq>`);
    expect(condition(noPayload)).to.equal('bad-request');
    expect(appCondition(noPayload)).to.equal('payload-required');
  });

  it('refuses node names over 512 bytes and item ids over 1,024 (storage keys), and stores nothing', async () => {
    const longNode = await pep.alice.iq(publish(`urn:example:${'n'.repeat(520)}`, `<x xmlns='urn:example'/>`));
    expect(condition(longNode)).to.equal('not-acceptable');
    const longId = await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'é'.repeat(513)));
    expect(condition(longId)).to.equal('not-acceptable');
    expect(await pep.ts.store.range('pep_nodes', 'alice@localhost')).to.have.length(0);
    const fits = await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`, undefined, 'é'.repeat(512)));
    expect(fits.attrs.type).to.equal('result');
  });

  it('deletes every node and item with the account', async () => {
    await pep.alice.iq(publish(MOOD, `<mood xmlns='${MOOD}'><happy/></mood>`));
    expect([...(await pep.ts.store.range('pep_items', 'alice@localhost'))]).to.have.length(1);
    await pep.ts.server.deleteAccount(parseJid('alice@localhost'));
    expect(await pep.ts.store.range('pep_items', 'alice@localhost')).to.have.length(0);
    expect(await pep.ts.store.range('pep_nodes', 'alice@localhost')).to.have.length(0);
  });
});
