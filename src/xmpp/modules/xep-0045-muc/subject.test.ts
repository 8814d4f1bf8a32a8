import { expect } from 'chai';
import type { TestClient, TestServer } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { NS_MUC_OWNER, NS_SID } from './ns.js';
import { joinRoom, roomArchive, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const NS_MAM = 'urn:xmpp:mam:2';

describe('XEP-0045 §8.1 the room subject', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
  });
  afterEach(async () => {
    await ts.stop();
  });

  const setSubject = (text: string, id: string) => alice.send(`<message type='groupchat' to='${ROOM}' id='${id}'><subject>${text}</subject></message>`);
  /** Alice's groupchat `content` as the room echoes it back to her. */
  async function say(id: string, content: string): Promise<XmlElement> {
    await alice.send(`<message type='groupchat' to='${ROOM}' id='${id}'>${content}</message>`);
    return alice.waitFor((m) => m.name === 'message' && m.attrs.id === id);
  }
  const stanzaId = (m: XmlElement) => m.getChild('stanza-id', NS_SID)?.attrs.id;

  it('archives a subject change in its place among the messages, under the stanza-id it was sent with, and not the subject each join gets (XEP-0313 §5.1.2)', async () => {
    const before = await say('m1', '<body>before</body>');
    const change = await say('s1', '<subject>Potions</subject>');
    const after = await say('m2', '<body>after</body>');
    expect(stanzaId(change), change.toString()).to.be.a('string');
    // Each join ends with the subject (§7.2.15): the room must not archive that copy too.
    await joinRoom(bob, ROOM, 'Bob');
    await bob.send(`<presence type='unavailable' to='${ROOM}/Bob'/>`);
    await bob.waitFor((p) => p.name === 'presence' && p.attrs.type === 'unavailable');
    await joinRoom(bob, ROOM, 'Bob');
    const archived = await roomArchive(bob, ROOM);
    expect(archived.map((m) => m.getChildText('body') ?? `subject: ${m.getChildText('subject')}`)).to.deep.equal(['before', 'subject: Potions', 'after']);
    const ids = bob.received.filter((m) => m.getChild('result', NS_MAM) !== undefined).map((m) => m.getChild('result', NS_MAM)!.attrs.id);
    expect(ids.slice(-3)).to.deep.equal([stanzaId(before), stanzaId(change), stanzaId(after)]);
    expect(archived[1]!.attrs.from).to.equal(`${ROOM}/Alice`);
  });

  it('relays a <subject/> that comes with a <thread/> as a message, leaving the room subject as it was (§8.1)', async () => {
    await setSubject('Potions', 's1');
    await alice.waitFor((m) => m.name === 'message' && m.attrs.id === 's1');
    const threaded = await say('t1', '<subject>Side topic</subject><thread>th1</thread>');
    expect(threaded.attrs.type, threaded.toString()).to.equal('groupchat');
    await joinRoom(bob, ROOM, 'Bob');
    const shown = bob.all((m) => m.name === 'message' && m.getChild('subject') !== undefined && m.getChild('thread') === undefined);
    expect(shown.map((m) => m.getChildText('subject'))).to.deep.equal(['Potions']);
  });

  it('keeps the subject it had when the new one cannot be stored: the moderator is told wait, and a newcomer is shown the old one', async () => {
    const persistent = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`,
    );
    expect(persistent.attrs.type, persistent.toString()).to.equal('result');
    await setSubject('Potions', 's1');
    await alice.waitFor((m) => m.name === 'message' && m.attrs.id === 's1');
    ts.store.failing = new Error('down');
    const refused = await (async () => {
      try {
        await setSubject('Poisons', 's2');
        return await alice.waitFor((m) => m.name === 'message' && m.attrs.id === 's2');
      } finally {
        ts.store.failing = null;
      }
    })();
    expect(refused.attrs.type, refused.toString()).to.equal('error');
    expect(refused.getChild('error')!.attrs.type).to.equal('wait');
    // The error says the subject did not change: the room must not show the new one to whoever comes next.
    await joinRoom(bob, ROOM, 'Bob');
    const shown = bob.all((m) => m.name === 'message' && m.getChild('subject') !== undefined);
    expect(shown.map((m) => m.getChildText('subject'))).to.deep.equal(['Potions']);
    // XEP-0313 §5.1.2: what the room refused is not in its archive.
    expect((await roomArchive(bob, ROOM)).map((m) => m.getChildText('subject'))).to.deep.equal(['Potions']);
  });
});
