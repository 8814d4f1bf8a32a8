import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import blocking, { NS_BLOCKING, type BlockingApi } from './index.js';
import { Blocklists, matches } from './blocklist.js';
import { MemoryStore } from '../../../storage/memory/index.js';
import { Table } from '../../../storage/wide-column.js';

const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const settle = () => new Promise((r) => setTimeout(r, 20));

let api: BlockingApi;
const probe = defineModule({ name: 'probe', implements: 'test', depends: ['blocking'], start(ctx) { api = ctx.use<BlockingApi>('blocking'); } });

describe('XEP-0191 blocking', () => {
  describe('JID matching (§5)', () => {
    const items = new Set(['romeo@montague.net', 'iago@shakespeare.lit/evil', 'spam.example', 'other.example/bot']);
    it('matches bare, full, domain/resource, domain and subdomains', () => {
      expect(matches(items, parseJid('romeo@montague.net/orchard'))).to.equal(true);
      expect(matches(items, parseJid('iago@shakespeare.lit/evil'))).to.equal(true);
      expect(matches(items, parseJid('iago@shakespeare.lit/good'))).to.equal(false);
      expect(matches(items, parseJid('anyone@spam.example/x'))).to.equal(true);
      expect(matches(items, parseJid('muc.spam.example'))).to.equal(true);
      expect(matches(items, parseJid('other.example/bot'))).to.equal(true);
      // §5 is an order of lookups built from the sender's JID: user@domain/res is tried as domain/res too.
      expect(matches(items, parseJid('user@other.example/bot'))).to.equal(true);
      expect(matches(items, parseJid('user@other.example/human'))).to.equal(false);
      expect(matches(items, parseJid('notspam.example'))).to.equal(false);
    });
  });

  describe('the cache of block lists', () => {
    it('keeps the lists read since the last eviction and drops one that was not', async () => {
      const store = new MemoryStore();
      await store.ensureTables([{ name: 'blocklist' }]);
      const reads: string[] = [];
      const table = new Table(store, 'blocklist');
      const range = table.range.bind(table);
      table.range = (pk, options) => {
        reads.push(pk);
        return range(pk, options);
      };
      await table.put('a@x', 'spam@y', '');
      const lists = new Blocklists(table, 3, 60_000);
      for (const owner of ['a@x', 'b@x', 'c@x']) await lists.get(owner);
      // Lists not read since they were loaded go first, oldest first; a, read again after its reload, is spared.
      await lists.get('d@x');
      expect(lists.cached('a@x')).to.equal(undefined);
      await lists.get('a@x');
      lists.cached('a@x');
      await lists.get('e@x');
      expect(lists.cached('a@x')).to.deep.equal(new Set(['spam@y']));
      expect([lists.cached('c@x'), lists.cached('d@x'), lists.cached('e@x')].filter((l) => l !== undefined)).to.have.length(2);
      expect(reads).to.deep.equal(['a@x', 'b@x', 'c@x', 'd@x', 'a@x', 'e@x']);
    });
  });

  describe('on the server', () => {
    let ts: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    beforeEach(async () => {
      ts = await TestServer.start([roster, presence, blocking, probe]);
      alice = await ts.login('alice@localhost/phone');
      bob = await ts.login('bob@localhost/pc');
      // Both available, so that messages to bare JIDs are delivered.
      for (const c of [alice, bob]) await c.send('<presence/>');
    });
    afterEach(() => ts.stop());

    const block = (c: TestClient, jid: string) => c.iq(`<iq type='set'><block xmlns='${NS_BLOCKING}'><item jid='${jid}'/></block></iq>`);

    it('keeps the block list and pushes changes to resources that requested it', async () => {
      const laptop = await ts.login('alice@localhost/laptop');
      const empty = await alice.iq(`<iq type='get'><blocklist xmlns='${NS_BLOCKING}'/></iq>`);
      expect(empty.getChild('blocklist', NS_BLOCKING)!.elements()).to.have.length(0);
      expect((await block(alice, 'bob@localhost')).attrs.type).to.equal('result');
      const pushed = await alice.waitFor((s) => s.name === 'iq' && s.attrs.type === 'set' && s.getChild('block', NS_BLOCKING) !== undefined);
      expect(pushed.getChild('block')!.getChild('item')!.attrs.jid).to.equal('bob@localhost');
      expect(laptop.all((s) => s.getChild('block', NS_BLOCKING) !== undefined)).to.have.length(0);
      const list = await laptop.iq(`<iq type='get'><blocklist xmlns='${NS_BLOCKING}'/></iq>`);
      expect(list.getChild('blocklist')!.getChildren('item').map((i) => i.attrs.jid)).to.deep.equal(['bob@localhost']);
      expect(await api.isBlocked('alice@localhost', parseJid('bob@localhost/pc'))).to.equal(true);
      expect(await api.isBlocked('bob@localhost', parseJid('alice@localhost/phone'))).to.equal(false);
    });

    it("does not deliver a blocked contact's messages and answers service-unavailable", async () => {
      await block(alice, 'bob@localhost');
      alice.clear();
      await bob.send(`<message to='alice@localhost' type='chat' id='m1'><body>hi</body></message>`);
      await bob.send(`<message to='alice@localhost/phone' type='chat' id='m2'><body>hi</body></message>`);
      const err = await bob.waitFor((s) => s.name === 'message' && s.attrs.id === 'm1');
      expect(err.attrs.type).to.equal('error');
      expect(condition(err)).to.equal('service-unavailable');
      expect(condition(await bob.waitFor((s) => s.attrs.id === 'm2'))).to.equal('service-unavailable');
      await settle();
      expect(alice.all((s) => s.name === 'message')).to.have.length(0);
    });

    it('answers iq get/set with service-unavailable and drops presence silently', async () => {
      await block(alice, 'bob@localhost');
      alice.clear();
      const r = await bob.iq(`<iq type='get' to='alice@localhost/phone'><ping xmlns='urn:xmpp:ping'/></iq>`);
      expect(condition(r)).to.equal('service-unavailable');
      bob.clear();
      await bob.send(`<presence to='alice@localhost/phone'/>`);
      await settle();
      expect(alice.all((s) => s.name === 'presence' || s.name === 'iq')).to.have.length(0);
      expect(bob.received).to.have.length(0);
    });

    it("refuses the user's own stanzas to a blocked contact with not-acceptable + <blocked/>", async () => {
      await block(alice, 'bob@localhost');
      bob.clear();
      await alice.send(`<message to='bob@localhost' type='chat' id='out1'><body>psst</body></message>`);
      const err = await alice.waitFor((s) => s.name === 'message' && s.attrs.id === 'out1');
      expect(err.attrs.type).to.equal('error');
      const e = err.getChild('error')!;
      expect(e.attrs.type).to.equal('cancel');
      expect(e.getChild('not-acceptable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).to.not.equal(undefined);
      expect(e.getChild('blocked', 'urn:xmpp:blocking:errors')).to.not.equal(undefined);
      // The first check read the list from the store; this one finds it in memory.
      await alice.send(`<message to='bob@localhost/pc' type='chat' id='out2'><body>psst</body></message>`);
      const again = await alice.waitFor((s) => s.name === 'message' && s.attrs.id === 'out2');
      expect(again.getChild('error')!.getChild('blocked', 'urn:xmpp:blocking:errors')).to.not.equal(undefined);
      await settle();
      expect(bob.received).to.have.length(0);
    });

    it('unblocking (one, then all) lets stanzas through again and is pushed', async () => {
      await alice.iq(`<iq type='get'><blocklist xmlns='${NS_BLOCKING}'/></iq>`);
      await block(alice, 'bob@localhost');
      await block(alice, 'carol@localhost');
      expect((await alice.iq(`<iq type='set'><unblock xmlns='${NS_BLOCKING}'><item jid='bob@localhost'/></unblock></iq>`)).attrs.type).to.equal('result');
      await bob.send(`<message to='alice@localhost' type='chat' id='back'><body>hi again</body></message>`);
      expect((await alice.waitFor((s) => s.attrs.id === 'back')).getChildText('body')).to.equal('hi again');
      alice.clear();
      await alice.iq(`<iq type='set'><unblock xmlns='${NS_BLOCKING}'/></iq>`);
      const push = await alice.waitFor((s) => s.name === 'iq' && s.attrs.type === 'set' && s.getChild('unblock', NS_BLOCKING) !== undefined);
      expect(push.getChild('unblock')!.elements()).to.have.length(0);
      const list = await alice.iq(`<iq type='get'><blocklist xmlns='${NS_BLOCKING}'/></iq>`);
      expect(list.getChild('blocklist')!.elements()).to.have.length(0);
    });

    it('sends unavailable presence to a subscribed contact on block, and current presence on unblock', async () => {
      await ts.store.put('roster', 'alice@localhost', 'bob@localhost', JSON.stringify({ jid: 'bob@localhost', subscription: 'from', groups: [] }));
      await ts.store.put('roster', 'bob@localhost', 'alice@localhost', JSON.stringify({ jid: 'alice@localhost', subscription: 'to', groups: [] }));
      await alice.send(`<presence><show>away</show></presence>`);
      expect((await bob.waitFor((s) => s.name === 'presence' && s.attrs.from === 'alice@localhost/phone')).getChildText('show')).to.equal('away');
      bob.clear();
      await block(alice, 'bob@localhost');
      const gone = await bob.waitFor((s) => s.name === 'presence');
      expect(gone.attrs.type).to.equal('unavailable');
      expect(gone.attrs.from).to.equal('alice@localhost/phone');
      bob.clear();
      // While blocked, alice's presence broadcasts skip bob.
      await alice.send(`<presence><show>dnd</show></presence>`);
      await settle();
      expect(bob.all((s) => s.name === 'presence')).to.have.length(0);
      await alice.iq(`<iq type='set'><unblock xmlns='${NS_BLOCKING}'><item jid='bob@localhost'/></unblock></iq>`);
      const back = await bob.waitFor((s) => s.name === 'presence');
      expect(back.attrs.type).to.equal(undefined);
      expect(back.getChildText('show')).to.equal('dnd');
    });

    it('does the same for a contact covered by a domain item (§3.2)', async () => {
      await ts.store.put('roster', 'alice@localhost', 'bob@localhost', JSON.stringify({ jid: 'bob@localhost', subscription: 'from', groups: [] }));
      bob.clear();
      await block(alice, 'localhost');
      expect((await bob.waitFor((s) => s.name === 'presence')).attrs).to.include({ type: 'unavailable', from: 'alice@localhost/phone' });
      bob.clear();
      await alice.iq(`<iq type='set'><unblock xmlns='${NS_BLOCKING}'><item jid='localhost'/></unblock></iq>`);
      expect((await bob.waitFor((s) => s.name === 'presence')).attrs.type).to.equal(undefined);
    });

    it('does not tell a non-subscribed contact anything on block', async () => {
      bob.clear();
      await block(alice, 'bob@localhost');
      await settle();
      expect(bob.received).to.have.length(0);
    });

    it("hides one user's block list from another", async () => {
      await block(alice, 'bob@localhost');
      const r = await bob.iq(`<iq type='get' to='alice@localhost'><blocklist xmlns='${NS_BLOCKING}'/></iq>`);
      expect(condition(r)).to.equal('service-unavailable');
      expect(r.toString()).not.to.contain('bob@localhost"/>');
      const w = await bob.iq(`<iq type='set' to='alice@localhost'><unblock xmlns='${NS_BLOCKING}'/></iq>`);
      expect(condition(w)).to.equal('service-unavailable');
      expect(await api.isBlocked('alice@localhost', parseJid('bob@localhost'))).to.equal(true);
    });

    it('rejects an empty block and malformed JIDs', async () => {
      expect(condition(await alice.iq(`<iq type='set'><block xmlns='${NS_BLOCKING}'/></iq>`))).to.equal('bad-request');
      expect(condition(await block(alice, 'a@b@c'))).to.equal('jid-malformed');
    });

    it('is deleted with the account', async () => {
      await block(alice, 'bob@localhost');
      await ts.server.deleteAccount(parseJid('alice@localhost'));
      expect(await ts.store.range('blocklist', 'alice@localhost')).to.have.length(0);
      expect(await api.isBlocked('alice@localhost', parseJid('bob@localhost'))).to.equal(false);
    });
  });
});
