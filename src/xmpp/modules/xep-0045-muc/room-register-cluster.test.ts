import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import { inProcessClusterSuite, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from './index.js';
import { configureRoom, createRoom, errorCondition as condition, joinRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const MODULES = [roster, presence, disco, muc];

const register = (c: TestClient, nick: string): Promise<XmlElement> =>
  c.iq(
    `<iq type='set' to='${ROOM}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>${nick}</value></field></x></query></iq>`,
  );
async function reservedNick(c: TestClient): Promise<string | undefined> {
  const r = await c.iq(`<iq type='get' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`);
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r.getChild('query')!.getChild('identity')?.attrs.name;
}

/** XEP-0045 §7.10 in a cluster: a registration is made on the node that runs the room, and is in the shared store for the next one. */
describe('XEP-0045 room registration in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();
  const startNode = (id: string): Promise<ClusterTestNode> => cluster.start(id, MODULES);

  it('reserves a nick registered from another node on the node running the room, and keeps it when the room moves', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    await createRoom(alice, ROOM, 'alice');
    expect((await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' })).attrs.type).to.equal('result');

    // bob is on b: his registration is posted to a, which runs the room.
    const bob = await b.ts.login('bob@localhost/laptop');
    const set = await register(bob, 'Bobby');
    expect(set.attrs.type, set.toString()).to.equal('result');
    expect(await reservedNick(bob)).to.equal('Bobby');
    const carol = await b.ts.login('carol@localhost/web');
    expect(condition(await joinRoom(carol, ROOM, 'Bobby'))).to.equal('conflict');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('a');

    // a stops: the room starts again on b, from the store, with the reservation.
    await cluster.stop(a);
    const dave = await b.ts.login('dave@localhost/d');
    expect(condition(await joinRoom(dave, ROOM, 'Bobby'))).to.equal('conflict');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('b');
    expect(await reservedNick(bob)).to.equal('Bobby');
  });
});
