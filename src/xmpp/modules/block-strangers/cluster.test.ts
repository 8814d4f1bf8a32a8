import { expect } from 'chai';
import { inProcessClusterSuite } from '../../../testing/in-process-cluster.js';
import type { XmlElement } from '../../../util/xml.js';
import { parseXml } from '../../stream/parse-xml.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import blockStrangers from './index.js';

const hasBody = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;

/**
 * A message from another server is judged on the node that routes it, while the directed presence that makes
 * its sender no stranger (a room the user is in) is known on the node holding the user's session.
 */
describe('block-strangers across a cluster', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();

  it("lets through a private message from a room the user joined on another node, and drops a stranger's", async () => {
    const modules = [roster, presence, blockStrangers];
    const a = await cluster.start('a', modules);
    const b = await cluster.start('b', modules);
    // No federation here: what leaves for other servers is taken as sent.
    for (const node of [a, b]) node.ts.server.hooks.add('route/remote', () => true);
    const bob = await b.ts.login('bob@localhost/phone');
    await bob.send('<presence/>');
    await bob.send(`<presence to='room@muc.remote.example/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    const arrive = (from: string, body: string) => a.ts.server.route(parseXml(`<message xmlns='jabber:client' type='chat' from='${from}' to='bob@localhost/phone'><body>${body}</body></message>`));
    await arrive('spam@remote.example/bot', 'spam');
    await arrive('room@muc.remote.example/alice', 'private message');
    await bob.waitFor(hasBody('private message'));
    expect(bob.all(hasBody('spam'))).to.deep.equal([]);
  });
});
