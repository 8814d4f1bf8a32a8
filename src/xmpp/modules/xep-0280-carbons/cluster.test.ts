import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { inProcessClusterSuite } from '../../../testing/in-process-cluster.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import carbons, { NS_CARBONS } from './index.js';

describe('XEP-0280 carbons in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();

  it('copies what one resource sends and receives to a carbon-enabled resource on another node', async () => {
    const n1 = await cluster.start('n1', [roster, presence, carbons]);
    const n2 = await cluster.start('n2', [roster, presence, carbons]);
    const phone = await n1.ts.login('bob@localhost/phone');
    await phone.send('<presence/>');
    const laptop = await n2.ts.login('bob@localhost/laptop');
    await laptop.send('<presence/>');
    await laptop.iq(`<iq type='set'><enable xmlns='${NS_CARBONS}'/></iq>`);
    // The table says so, for every node to read.
    await eventually(async () => expect((await n1.cluster.sessions.get('bob@localhost/laptop'))?.carbons).to.equal(true));
    const alice = await n2.ts.login('alice@localhost/a');
    await phone.send(`<message to='carol@localhost' type='chat'><body>sent by phone</body></message>`);
    await alice.send(`<message to='bob@localhost/phone' type='chat'><body>to phone</body></message>`);
    await laptop.waitFor((e) => e.getChild('sent', NS_CARBONS) !== undefined);
    await laptop.waitFor((e) => e.getChild('received', NS_CARBONS) !== undefined);
  });
});
