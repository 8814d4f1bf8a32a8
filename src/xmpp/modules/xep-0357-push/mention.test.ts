import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { parseXml } from '../../../testing/parse-xml.js';
import { defineModule } from '../../module.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc, { type MucApi } from '../xep-0045-muc/index.js';
import { createRoom, joinRoom } from '../xep-0045-muc/test-support.js';
import offline from '../xep-0160-offline/index.js';
import sm from '../xep-0198-sm/index.js';
import { createPushModule, NS_PUBSUB, NS_PUSH, type PushApi } from './index.js';
import { mentions, namesNick } from './mention.js';

const ROOM = 'room@conference.localhost';
const NS_REFERENCE = 'urn:xmpp:reference:0';

let push: PushApi;
let rooms: MucApi;
const probe = defineModule({
  name: 'probe',
  implements: 'test',
  depends: ['push', 'muc'],
  start(ctx) {
    push = ctx.use<PushApi>('push');
    rooms = ctx.use<MucApi>('muc');
  },
});

const isPush = (s: XmlElement) => s.getChild('pubsub', NS_PUBSUB) !== undefined;

describe('XEP-0357 push: mentions in groupchat (mention.ts)', () => {
  describe('what mentions an occupant', () => {
    const target = { nick: 'Bob', occupantJid: `${ROOM}/Bob`, bare: 'bob@localhost' };
    const said = (body: string, extra = '') => mentions(parseXml(`<message type='groupchat'><body>${body}</body>${extra}</message>`), body, target);
    const reference = (uri: string, type = 'mention') => `<reference xmlns='${NS_REFERENCE}' type='${type}' uri='${uri}'/>`;

    it('finds the nick as a word, in any case, and not inside a longer word', () => {
      for (const body of ['bob', 'Bob: look', 'hey BOB!', '@bob', 'ask bob.', 'bobby asked bob']) expect(namesNick(body, 'Bob'), body).to.equal(true);
      for (const body of ['bobby', 'kebob', 'bob_2', 'bob2', 'bobé', 'hello all']) expect(namesNick(body, 'Bob'), body).to.equal(false);
      expect(namesNick('ping 𝒜nna', 'anna')).to.equal(false);
      expect(namesNick('ping 𝒜 anna', 'anna')).to.equal(true);
      expect(namesNick('Grüße, JÜRGEN', 'jürgen')).to.equal(true);
      expect(namesNick('anything', '')).to.equal(false);
    });

    it("takes an XEP-0372 mention of the occupant's room JID or the account's bare JID", () => {
      expect(said('look', reference(`xmpp:${ROOM}/Bob`))).to.equal(true);
      expect(said('look', reference('xmpp:bob@localhost'))).to.equal(true);
      expect(said('look', reference(`xmpp:${ROOM}/Bob?message`))).to.equal(true);
      expect(said('look', reference(`xmpp:${ROOM}/Bobby`))).to.equal(false);
      expect(said('look', reference(`xmpp:${ROOM}`))).to.equal(false);
      expect(said('look', reference('xmpp:alice@localhost'))).to.equal(false);
      expect(said('look', reference(`xmpp:${ROOM}/Bob`, 'data'))).to.equal(false);
      expect(said('look', reference('https://localhost/Bob'))).to.equal(false);
      expect(said('look', reference('xmpp:%E0%A4%A'))).to.equal(false);
      const spaced = { nick: 'Bob Smith', occupantJid: `${ROOM}/Bob Smith`, bare: 'bob@localhost' };
      expect(mentions(parseXml(`<message type='groupchat'><body>look</body>${reference(`xmpp:${ROOM}/Bob%20Smith`)}</message>`), 'look', spaced)).to.equal(true);
    });
  });

  describe('a room of this server and a hibernated occupant', () => {
    let ts: TestServer;
    let alice: TestClient;
    let appServer: TestClient;
    let phone: TestClient;

    async function setUp(pushOptions: Record<string, unknown> = {}): Promise<void> {
      ts = await TestServer.start([roster, presence, disco, muc, offline, sm, createPushModule(), probe], {
        modules: { options: { sm: { resumeTimeoutSeconds: 60 }, push: { publishTimeoutMs: 100, ...pushOptions } } },
      });
      alice = await ts.login('alice@localhost/pc');
      await alice.send('<presence/>');
      appServer = await ts.login('appserver@localhost/srv');
      await createRoom(alice, ROOM, 'Alice');
      phone = await ts.login('bob@localhost/phone');
      await phone.send('<presence/>');
      await phone.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' jid='appserver@localhost/srv' node='phone-node'/></iq>`);
      await joinRoom(phone, ROOM, 'Bob');
      await phone.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
    }
    beforeEach(() => setUp());
    afterEach(() => ts.stop());

    /** What Alice says in the room, once the room has relayed it and every push it caused is out. */
    async function say(id: string, content: string, from: TestClient = alice): Promise<void> {
      await from.send(`<message type='groupchat' to='${ROOM}' id='${id}'>${content}</message>`);
      await rooms.service.idle();
      await push.idle();
    }
    const pushes = () => appServer.all(isPush);

    it('pushes the occupant once for a message that names their nick', async () => {
      await phone.drop();
      await say('m1', '<body>bob, are you there?</body>');
      expect(pushes()).to.have.length(1);
      expect(pushes()[0]!.getChild('pubsub')!.getChild('publish')!.attrs.node).to.equal('phone-node');
    });

    it("names the speaker by their room JID when the summary carries the sender, as Prosody does", async () => {
      await ts.stop();
      await setUp({ includeSender: true });
      await phone.drop();
      await say('m1', '<body>bob, are you there?</body>');
      const fields = pushes()[0]!.getChild('pubsub')!.getChild('publish')!.getChild('item')!.getChild('notification')!.getChild('x')!.getChildren('field');
      expect(fields.find((f) => f.attrs.var === 'last-message-sender')?.getChildText('value')).to.equal(`${ROOM}/Alice`);
    });

    it('pushes the occupant once for an XEP-0372 mention of their room JID, and of their bare JID', async () => {
      await phone.drop();
      await say('r1', `<body>look at this</body><reference xmlns='${NS_REFERENCE}' type='mention' uri='xmpp:${ROOM}/Bob'/>`);
      expect(pushes()).to.have.length(1);
      await say('r2', `<body>and this</body><reference xmlns='${NS_REFERENCE}' type='mention' uri='xmpp:bob@localhost'/>`);
      expect(pushes()).to.have.length(2);
    });

    it('does not push for a message that does not mention the occupant, nor for a nick inside a longer word', async () => {
      await phone.drop();
      await say('n1', '<body>hello everyone</body>');
      await say('n2', '<body>bobby and kebob</body>');
      await say('n3', `<body>look</body><reference xmlns='${NS_REFERENCE}' type='mention' uri='xmpp:${ROOM}/Alice'/>`);
      expect(pushes()).to.have.length(0);
      // Heard at all: the same sleeper is pushed when named.
      await say('n4', '<body>Bob?</body>');
      expect(pushes()).to.have.length(1);
    });

    it("does not push for the occupant's own message (from another client under the same nick), a subject change or a message without a body", async () => {
      const desk = await ts.login('bob@localhost/desk');
      await desk.send('<presence/>');
      await joinRoom(desk, ROOM, 'Bob');
      await phone.drop();
      await say('o1', '<body>Bob here, on the desk</body>', desk);
      await say('o2', '<subject>About Bob</subject>');
      await say('o3', `<composing xmlns='http://jabber.org/protocol/chatstates'/><reference xmlns='${NS_REFERENCE}' type='mention' uri='xmpp:${ROOM}/Bob'/>`);
      expect(pushes()).to.have.length(0);
      await say('o4', '<body>Bob, your desk is talking</body>');
      expect(pushes()).to.have.length(1);
    });

    it("does not push for the account's own message from another client joined under another nick; another user's still pushes", async () => {
      const desk = await ts.login('bob@localhost/desk');
      await desk.send('<presence/>');
      await joinRoom(desk, ROOM, 'BobAtDesk');
      await phone.drop();
      await say('d1', '<body>Bob, remember the milk</body>', desk);
      await say('d2', `<body>note to self</body><reference xmlns='${NS_REFERENCE}' type='mention' uri='xmpp:${ROOM}/Bob'/>`, desk);
      expect(pushes()).to.have.length(0);
      await say('d3', '<body>Bob, your desk is talking</body>');
      expect(pushes()).to.have.length(1);
    });

    it('does not push an occupant who is connected', async () => {
      await say('c1', '<body>bob, are you there?</body>');
      await phone.waitFor((s) => s.attrs.id === 'c1');
      expect(pushes()).to.have.length(0);
    });
  });
});
