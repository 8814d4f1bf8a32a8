import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { InProcessCluster } from '../../../testing/in-process-cluster.js';
import { redisTargets, type RedisDeployment } from '../../../testing/redis-cluster-nodes.js';
import { buildForm } from '../../../util/data-form.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS } from '../xep-0050-adhoc/index.js';
import admin, { NS_ADMIN } from './index.js';

describe('XEP-0133 administration in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  let deployment: RedisDeployment | undefined;
  const cluster = new InProcessCluster(() => deployment!);
  before(async () => {
    deployment = await redisTargets[0]!.start();
  });
  beforeEach(() => cluster.reset());
  afterEach(() => cluster.stopAll());

  it('ends a user session held by another node (§4.5), and counts it', async () => {
    const a = await cluster.start('a', [roster, disco, adhoc, admin], {}, { admins: ['admin@localhost'] });
    const b = await cluster.start('b', [roster, disco, adhoc, admin], {}, { admins: ['admin@localhost'] });
    const console = await a.ts.login('admin@localhost/console');
    const bob = await b.ts.login('bob@localhost/phone');
    const form = buildForm({ type: 'submit', fields: [{ var: 'FORM_TYPE', type: 'hidden', values: [NS_ADMIN] }, { var: 'accountjids', values: ['bob@localhost'] }] });
    const r = await console.iq(`<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}' node='${NS_ADMIN}#end-user-session' action='execute'>${form.toString()}</command></iq>`);
    expect(r.getChild('command', NS_COMMANDS)?.getChildText('note')).to.equal('Ended 1 session(s)');
    await eventually(() => expect(bob.closedWith).to.equal('policy-violation'));
  });
});
