import { expect } from 'chai';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { joinRoom, startWithRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_MAM = 'urn:xmpp:mam:2';

let queries = 0;
/** The bodies of the room archive as `reader` gets them with a `with` filter, or the query's error condition. */
async function archiveWith(reader: TestClient, withJid: string): Promise<string[] | string> {
  const queryid = `with${queries++}`;
  const r = await reader.iq(
    `<iq type='set' to='${ROOM}'><query xmlns='${NS_MAM}' queryid='${queryid}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_MAM}</value></field><field var='with'><value>${withJid}</value></field></x></query></iq>`,
  );
  if (r.attrs.type === 'error') return r.getChild('error')!.elements()[0]!.name;
  const forwarded = (m: XmlElement) => m.getChild('result', NS_MAM)?.getChild('forwarded')?.getChild('message');
  return reader.received.filter((m) => m.getChild('result', NS_MAM)?.attrs.queryid === queryid).map((m) => forwarded(m)?.getChildText('body') ?? '');
}

describe('XEP-0045 iqs to a room', () => {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  beforeEach(async () => {
    ({ ts, clients: [alice, bob] } = await startWithRoom(ROOM, ['alice@localhost/a', 'bob@localhost/b']));
  });
  afterEach(async () => {
    await ts.stop();
  });

  it('answers the reserved-nick node (§7.12) with an empty query to a user who registered no nick, before or after joining', async () => {
    const ask = (c: TestClient) => c.iq(`<iq type='get' to='${ROOM}'><query xmlns='${DISCO_INFO}' node='x-roomuser-item'/></iq>`);
    for (const r of [await ask(bob), await ask(alice)]) {
      expect(r.attrs.type, r.toString()).to.equal('result');
      const q = r.getChild('query', DISCO_INFO)!;
      expect(q.attrs.node).to.equal('x-roomuser-item');
      expect(q.elements(), 'no identity: nobody has a reserved nick').to.deep.equal([]);
    }
    await joinRoom(bob, ROOM, 'Bob');
    expect((await ask(bob)).attrs.type, 'no error once joined (§7.12)').to.equal('result');
  });

  it("filters the room archive by 'with' (XEP-0313 §4.1.1): occupant JID for all, real JID only for who may see real JIDs", async () => {
    await joinRoom(bob, ROOM, 'Bob');
    const say = async (c: TestClient, body: string) => {
      await c.send(`<message type='groupchat' to='${ROOM}'><body>${body}</body></message>`);
      await alice.waitFor((m) => m.getChildText('body') === body);
    };
    await say(alice, 'a1');
    await say(bob, 'b1');
    await bob.send(`<presence to='${ROOM}/Robert'/>`);
    await bob.waitFor((p) => p.name === 'presence' && p.attrs.from === `${ROOM}/Robert`);
    await say(bob, 'b2');

    expect(await archiveWith(bob, `${ROOM}/Bob`), 'an occupant JID: what was sent under that nick').to.deep.equal(['b1']);
    expect(await archiveWith(bob, `${ROOM}/Robert`)).to.deep.equal(['b2']);
    expect(await archiveWith(bob, ROOM), "the room's JID: every message").to.deep.equal(['a1', 'b1', 'b2']);
    expect(await archiveWith(alice, 'bob@localhost'), 'a real bare JID, asked by a moderator: every nick of that account').to.deep.equal(['b1', 'b2']);
    expect(await archiveWith(bob, 'alice@localhost'), 'a real JID in a semi-anonymous room, asked by a participant').to.equal('forbidden');
    const open = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>`,
    );
    expect(open.attrs.type, open.toString()).to.equal('result');
    expect(await archiveWith(bob, 'alice@localhost'), 'the same once the room shows real JIDs to everyone').to.deep.equal(['a1']);
  });
  it('leaves a persistent room as it was when a configuration or affiliation change cannot be stored: the owner is told wait, and bob still gets in', async () => {
    const configure = (fields: string) => alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${fields}</x></query></iq>`);
    const field = (name: string, value: string) => `<field var='muc#roomconfig_${name}'><value>${value}</value></field>`;
    expect((await configure(field('persistentroom', '1'))).attrs.type).to.equal('result');
    ts.store.failing = new Error('down');
    let replies: XmlElement[];
    try {
      replies = [await configure(field('membersonly', '1')), await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='bob@localhost'/></query></iq>`)];
    } finally {
      ts.store.failing = null;
    }
    for (const r of replies) {
      expect(r.attrs.type, r.toString()).to.equal('error');
      expect(r.getChild('error')!.attrs.type).to.equal('wait');
    }
    // An error says nothing changed: the live room must not run with what the store never took.
    const self = await joinRoom(bob, ROOM, 'Bob');
    expect(self.attrs.type, self.toString()).to.not.equal('error');
  });

  it('keeps a room whose destruction cannot be stored (§10.9): the owner is told wait, and the occupants, not told it is gone, still talk in it', async () => {
    await joinRoom(bob, ROOM, 'Bob');
    bob.clear();
    ts.store.failing = new Error('down');
    let reply: XmlElement;
    try {
      reply = await alice.iq(`<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy><reason>closing</reason></destroy></query></iq>`);
    } finally {
      ts.store.failing = null;
    }
    expect(reply.attrs.type, reply.toString()).to.equal('error');
    expect(reply.getChild('error')!.attrs.type).to.equal('wait');
    expect(bob.all((el) => el.name === 'presence' && el.attrs.type === 'unavailable'), 'nobody hears of a destruction that did not happen').to.have.length(0);
    await alice.send(`<message type='groupchat' to='${ROOM}'><body>still here</body></message>`);
    await bob.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'still here');
  });

  it('applies none of a batch of affiliation changes (§9) when the store keeps only some: the owner is told wait, and the first stays undone', async () => {
    const persistent = await alice.iq(
      `<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`,
    );
    expect(persistent.attrs.type, persistent.toString()).to.equal('result');
    // The store takes the first affiliation of the batch and fails on the second (a throttled backend).
    const put = ts.store.put.bind(ts.store);
    let affiliationWrites = 0;
    ts.store.put = (table, pk, sk, value, options) => (table === 'muc_affiliations' && ++affiliationWrites === 2 ? Promise.reject(new Error('throttled')) : put(table, pk, sk, value, options));
    let reply: XmlElement;
    try {
      reply = await alice.iq(
        `<iq type='set' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='bob@localhost'/><item affiliation='admin' jid='carol@localhost'/></query></iq>`,
      );
    } finally {
      ts.store.put = put;
    }
    expect(reply.attrs.type, reply.toString()).to.equal('error');
    expect(reply.getChild('error')!.attrs.type).to.equal('wait');
    // Nothing of the set happened: bob is not banned, in the live room or in the store (a restart would show it).
    const self = await joinRoom(bob, ROOM, 'Bob');
    expect(self.attrs.type, self.toString()).to.not.equal('error');
    const rows = (await ts.store.range('muc_affiliations', ROOM)).map((r) => [r.sk, r.value]);
    expect(rows).to.deep.equal([['alice@localhost', 'owner']]);
  });
});
