import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseJid } from '../../../util/jid.js';
import { x, type XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import sm, { NS_SM } from '../xep-0198-sm/index.js';
import offline from './index.js';
import { eventually } from '../../../testing/eventually.js';
import { isStorable } from './storable.js';
import { parseXml } from '../../stream/parse-xml.js';
import { MemoryStore } from '../../../storage/memory/index.js';
import type { PutOptions } from '../../../storage/wide-column.js';

const condition = (r: XmlElement) => r.getChild('error')?.elements()[0]?.name;
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('XEP-0160 offline messages', () => {
  describe('what is stored', () => {
    it('keeps bodies, encrypted payloads and receipts; not chat states, headlines or no-store', () => {
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='chat'><body>x</body></message>`))).to.equal(true);
      expect(isStorable(parseXml(`<message xmlns='jabber:client'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`))).to.equal(true);
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='chat'><received xmlns='urn:xmpp:receipts' id='1'/></message>`))).to.equal(true);
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`))).to.equal(false);
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='headline'><body>x</body></message>`))).to.equal(false);
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`))).to.equal(false);
      expect(isStorable(parseXml(`<message xmlns='jabber:client' type='chat'><store xmlns='urn:xmpp:hints'/></message>`))).to.equal(true);
    });

    it('keeps a message the server built itself, which has no namespace until it is written out', () => {
      expect(isStorable(x('message', { type: 'chat', from: 'localhost' }, x('body', null, 'notice')))).to.equal(true);
      expect(isStorable(x('message', { type: 'chat', from: 'localhost' }, x('thread', null, 't1'), x('active', { xmlns: 'http://jabber.org/protocol/chatstates' })))).to.equal(false);
    });

    // XEP-0160 §3: chat and normal messages are stored "with the exception of messages that contain only" chat states.
    const chat = (inner: string, type = 'chat') => parseXml(`<message xmlns='jabber:client' type='${type}'>${inner}</message>`);
    it('keeps payloads without a body, known or not: retractions, reactions, out-of-band links, unknown extensions', () => {
      expect(isStorable(chat(`<retract xmlns='urn:xmpp:message-retract:1' id='x1'/>`))).to.equal(true);
      expect(isStorable(chat(`<reactions xmlns='urn:xmpp:reactions:0' id='x1'><reaction>👍</reaction></reactions>`))).to.equal(true);
      expect(isStorable(chat(`<x xmlns='jabber:x:oob'><url>https://example.org/a.png</url></x>`))).to.equal(true);
      expect(isStorable(chat(`<thing xmlns='urn:example:future'/><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>`, 'normal'))).to.equal(true);
    });

    it('drops what carries nothing: chat states with ids, threads and hints, an empty message, errors, groupchat', () => {
      expect(isStorable(chat(`<composing xmlns='http://jabber.org/protocol/chatstates'/><thread>t1</thread><origin-id xmlns='urn:xmpp:sid:0' id='o1'/><no-copy xmlns='urn:xmpp:hints'/>`))).to.equal(false);
      expect(isStorable(chat(''))).to.equal(false);
      expect(isStorable(chat('<body>x</body>', 'error'))).to.equal(false);
      expect(isStorable(chat('<body>x</body>', 'groupchat'))).to.equal(false);
      expect(isStorable(chat(`<reactions xmlns='urn:xmpp:reactions:0' id='x1'/><no-store xmlns='urn:xmpp:hints'/>`))).to.equal(false);
    });

    it('drops copies made for one session that stream management hands back: carbons, archive results; not a private message', () => {
      const forwarded = `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>x</body></message></forwarded>`;
      expect(isStorable(chat(`<received xmlns='urn:xmpp:carbons:2'>${forwarded}</received>`))).to.equal(false);
      expect(isStorable(parseXml(`<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' queryid='q' id='1'>${forwarded}</result></message>`))).to.equal(false);
      expect(isStorable(chat(`<body>x</body><private xmlns='urn:xmpp:carbons:2'/>`))).to.equal(true);
    });

    it('follows the XEP-0334 hints: no-store wins, store keeps a headline (not an error or groupchat), no-permanent-store still allows holding it for delivery', () => {
      expect(isStorable(chat(`<store xmlns='urn:xmpp:hints'/><body>x</body><no-store xmlns='urn:xmpp:hints'/>`))).to.equal(false);
      expect(isStorable(chat(`<body>x</body><store xmlns='urn:xmpp:hints'/>`, 'headline'))).to.equal(true);
      expect(isStorable(chat(`<store xmlns='urn:xmpp:hints'/>`, 'error'))).to.equal(false);
      expect(isStorable(chat(`<body>x</body><store xmlns='urn:xmpp:hints'/>`, 'groupchat'))).to.equal(false);
      expect(isStorable(chat(`<body>off the record</body><no-permanent-store xmlns='urn:xmpp:hints'/>`))).to.equal(true);
    });
  });

  describe('on the server', () => {
    let ts: TestServer;
    let bob: TestClient;
    beforeEach(async () => {
      ts = await TestServer.start([roster, presence, offline], { modules: { options: { offline: { maxPerUser: 3 } } } });
      await ts.addUser('alice@localhost');
      bob = await ts.login('bob@localhost/pc');
    });
    afterEach(() => ts.stop());

    const sendTo = (body: string, id: string) => bob.send(`<message to='alice@localhost' type='chat' id='${id}'><body>${body}</body></message>`);

    it('stores messages for an offline account and delivers them in order, stamped, on initial presence', async () => {
      const before = Date.now();
      await sendTo('one', 'a1');
      await bob.send(`<message to='alice@localhost/gone' type='chat' id='a2'><body>two</body></message>`);
      await sendTo('three', 'a3');
      await settle();
      expect(bob.all((s) => s.attrs.type === 'error')).to.have.length(0);
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(3);

      const alice = await ts.login('alice@localhost/phone');
      await settle();
      expect(alice.all((s) => s.name === 'message')).to.have.length(0); // not before presence
      await alice.send('<presence/>');
      const got = await Promise.all(['a1', 'a2', 'a3'].map((id) => alice.waitFor((s) => s.name === 'message' && s.attrs.id === id)));
      expect(alice.all((s) => s.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['one', 'two', 'three']);
      for (const m of got) {
        expect(m.attrs.from).to.equal('bob@localhost/pc');
        const delay = m.getChild('delay', 'urn:xmpp:delay')!;
        expect(delay.attrs.from).to.equal('localhost');
        expect(Date.parse(delay.attrs.stamp!)).to.be.within(before - 1000, Date.now());
      }
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(0);
    });

    it('delivers a queue longer than one delivery batch in order, once, and empties it', async () => {
      const { store } = ts;
      // Filled through the store: maxPerUser is 3 in this suite. Sort keys in arrival order, as the module writes them.
      const ids = Array.from({ length: 250 }, (_, i) => `q${String(i).padStart(3, '0')}`);
      for (const id of ids) {
        await store.put('offline', 'alice@localhost', `0000000000000-${id}`, `<message xmlns='jabber:client' from='bob@localhost/pc' to='alice@localhost' type='chat' id='${id}'><body>${id}</body></message>`);
      }
      const alice = await ts.login('alice@localhost/phone');
      await alice.send('<presence/>');
      await alice.waitFor((m) => m.name === 'message' && m.attrs.id === ids[ids.length - 1]);
      await settle();
      expect(alice.all((m) => m.name === 'message').map((m) => m.attrs.id)).to.deep.equal(ids);
      expect(await store.range('offline', 'alice@localhost')).to.have.length(0);
    });

    it('delivers when session/available is fired directly and only once', async () => {
      await sendTo('hello', 'd1');
      const alice = await ts.login('alice@localhost/phone');
      await ts.server.hooks.fireAsync('session/available', { session: alice.session });
      await ts.server.hooks.fireAsync('session/available', { session: alice.session });
      await settle();
      expect(alice.all((s) => s.name === 'message' && s.attrs.id === 'd1')).to.have.length(1);
    });

    it('delivers to a resource that came online meanwhile when the one being delivered to goes away first', async () => {
      for (const id of ['m1', 'm2', 'm3']) await sendTo(id, id);
      await settle();
      // A slow offline table (a remote backend), so that the tablet's presence arrives while the phone's delivery reads.
      const range = ts.store.range.bind(ts.store);
      ts.store.range = async (...args: Parameters<typeof range>) => {
        if (args[0] === 'offline') await new Promise((r) => setTimeout(r, 60));
        return range(...args);
      };
      try {
        const phone = await ts.login('alice@localhost/phone');
        const tablet = await ts.login('alice@localhost/tablet');
        const delivering = phone.send('<presence/>');
        await settle();
        await tablet.send('<presence/>'); // waits: the phone is being delivered to
        phone.close();
        await delivering;
        await tablet.waitFor((m) => m.name === 'message' && m.attrs.id === 'm3');
        await settle();
        expect(tablet.all((m) => m.name === 'message').map((m) => m.attrs.id)).to.deep.equal(['m1', 'm2', 'm3']);
        expect(phone.all((m) => m.name === 'message')).to.have.length(0);
      } finally {
        ts.store.range = range;
      }
      await eventually(async () => expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(0));
    });

    it('delivers a message whose storing was under way when the recipient came online, at once rather than at the next login', async () => {
      // A slow store: the message is still being written when alice's initial presence starts the delivery
      // (as when a phone logs in again under its hibernated session's resource, whose unacknowledged messages are being stored).
      class SlowOfflineWrites extends MemoryStore {
        override async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
          if (table === 'offline') await new Promise((r) => setTimeout(r, 150));
          return super.put(table, pk, sk, value, options);
        }
      }
      await ts.stop();
      ts = await TestServer.start([roster, presence, offline], {}, new SlowOfflineWrites());
      const bobThere = await ts.login('bob@localhost/pc');
      const alice = await ts.login('alice@localhost/phone');
      const sending = bobThere.send(`<message to='alice@localhost' type='chat' id='s1'><body>stored meanwhile</body></message>`);
      await new Promise((r) => setTimeout(r, 30));
      await alice.send('<presence/>');
      await alice.waitFor((s) => s.name === 'message' && s.attrs.id === 's1', 3000);
      await sending;
      await eventually(async () => expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(0));
    });

    it('drops chat states and no-store messages without an error and without storing', async () => {
      await bob.send(`<message to='alice@localhost' type='chat' id='cs'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`);
      await bob.send(`<message to='alice@localhost' type='chat' id='ns'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`);
      await settle();
      expect(bob.received).to.have.length(0);
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(0);
    });

    it('answers resource-constraint once the account is over quota, and says it refused the message (message/refused)', async () => {
      const refused: string[] = [];
      ts.server.hooks.add('message/refused', ({ stanza, to }) => void refused.push(`${to.bare} ${stanza.attrs.id ?? ''}`));
      for (const id of ['q1', 'q2', 'q3']) await sendTo(id, id);
      await sendTo('q4', 'q4');
      const err = await bob.waitFor((s) => s.attrs.id === 'q4');
      expect(err.attrs.type).to.equal('error');
      expect(err.attrs.from).to.equal('alice@localhost');
      expect(condition(err)).to.equal('resource-constraint');
      expect(bob.all((s) => s.attrs.type === 'error')).to.have.length(1);
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(3);
      expect(refused).to.deep.equal(['alice@localhost q4']);
    });

    it('tells the sender when the store fails instead of losing the message silently', async () => {
      const put = ts.store.put.bind(ts.store);
      ts.store.put = async () => {
        throw new Error('store down');
      };
      try {
        await sendTo('lost?', 'f1');
      } finally {
        ts.store.put = put;
      }
      const err = await bob.waitFor((s) => s.attrs.id === 'f1');
      expect(err.attrs.type).to.equal('error');
      expect(condition(err)).to.equal('internal-server-error');
    });

    it('is deleted with the account', async () => {
      await sendTo('bye', 'x1');
      await ts.server.deleteAccount(parseJid('alice@localhost'));
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(0);
    });
  });

  describe('with stream management (XEP-0198)', () => {
    let ts: TestServer;
    beforeEach(async () => {
      ts = await TestServer.start([roster, presence, sm, offline]);
      await ts.addUser('alice@localhost');
    });
    afterEach(() => ts.stop());

    it('keeps delivered messages until the client acknowledges them, stores them again if it never does, stamped once', async () => {
      const bob = await ts.login('bob@localhost/pc');
      await bob.send(`<message to='alice@localhost' type='chat' id='omemo'><encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/><payload>AAAA</payload></encrypted></message>`);
      await bob.send(`<message to='alice@localhost' type='chat' id='text'><body>hello</body></message>`);
      await settle();
      const phone = await ts.login('alice@localhost/phone');
      await phone.send(`<enable xmlns='${NS_SM}'/>`);
      await phone.send('<presence/>');
      await phone.waitFor((m) => m.attrs.id === 'text');
      // Written, not acknowledged: still kept, should the server go down now.
      expect(await ts.store.range('offline', 'alice@localhost')).to.have.length(2);
      // The connection drops before the client acknowledges: both are kept for the next login, the bodiless one too.
      await phone.drop();
      await eventually(async () => expect((await ts.store.range('offline', 'alice@localhost')).map((r) => parseXml(r.value).attrs.id)).to.deep.equal(['omemo', 'text']));
      const laptop = await ts.login('alice@localhost/laptop');
      await laptop.send('<presence/>');
      const again = await laptop.waitFor((m) => m.attrs.id === 'text');
      expect(again.getChildren('delay', 'urn:xmpp:delay').filter((d) => d.attrs.from === 'localhost')).to.have.length(1);
    });
  });
});
