import { expect } from 'chai';
import type { TestClient } from '../../../testing/harness.js';
import { inProcessClusterSuite, type ClusterTestNode } from '../../../testing/in-process-cluster.js';
import type { XmlElement } from '../../../util/xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import muc from './index.js';
import { configureRoom, createRoom, joinRoom } from './test-support.js';

const ROOM = 'room@conference.localhost';
const NS_VCARD = 'vcard-temp';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const MODULES = [roster, presence, disco, muc];

const binval = (r: XmlElement): string | undefined => {
  expect(r.attrs.type, r.toString()).to.equal('result');
  return r.getChild('vCard', NS_VCARD)!.getChild('PHOTO')?.getChildText('BINVAL');
};
const getVcard = (c: TestClient): Promise<XmlElement> => c.iq(`<iq type='get' to='${ROOM}'><vCard xmlns='${NS_VCARD}'/></iq>`);

/** XEP-0486 in a cluster: a room's vCard changes on the node that runs the room, and is in the shared store for the next one. */
describe('XEP-0486 room avatars in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();
  const startNode = (id: string): Promise<ClusterTestNode> => cluster.start(id, MODULES);

  it('takes the vCard an owner sets from another node to the node running the room, tells occupants there, and keeps it when the room moves', async function () {
    const [a, b] = [await startNode('a'), await startNode('b')];
    const alice = await a.ts.login('alice@localhost/phone');
    await createRoom(alice, ROOM, 'alice');
    expect((await configureRoom(alice, ROOM, { 'muc#roomconfig_persistentroom': '1' })).attrs.type).to.equal('result');
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('a');
    const carol = await b.ts.login('carol@localhost/web');
    await joinRoom(carol, ROOM, 'carol');

    // The owner's other client, on b: the set is posted to a, which runs the room.
    const laptop = await b.ts.login('alice@localhost/laptop');
    const set = await laptop.iq(`<iq type='set' to='${ROOM}'><vCard xmlns='${NS_VCARD}'><PHOTO><TYPE>image/png</TYPE><BINVAL>${PNG}</BINVAL></PHOTO></vCard></iq>`);
    expect(set.attrs.type, set.toString()).to.equal('result');
    const update = await carol.waitFor((el) => el.name === 'presence' && el.attrs.from === ROOM, 5000);
    expect(update.getChild('x', 'vcard-temp:x:update')!.getChildText('photo')).to.match(/^[0-9a-f]{40}$/);
    expect(binval(await getVcard(carol))).to.equal(PNG);
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('a');

    // a stops: the room starts again on b, from the store.
    await cluster.stop(a);
    const bob = await b.ts.login('bob@localhost/laptop');
    expect(binval(await getVcard(bob))).to.equal(PNG);
    expect(await b.cluster.sessions.holder(ROOM)).to.equal('b');
  });
});
