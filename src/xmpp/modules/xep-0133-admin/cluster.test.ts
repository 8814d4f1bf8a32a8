import { expect } from 'chai';
import { eventually } from '../../../testing/eventually.js';
import { inProcessClusterSuite } from '../../../testing/in-process-cluster.js';
import { buildForm, findForm, getValue, getField } from '../../../util/data-form.js';
import type { TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS } from '../xep-0050-adhoc/index.js';
import admin, { NS_ADMIN } from './index.js';

describe('XEP-0133 administration in a cluster (in-process nodes on standalone Redis)', function () {
  this.timeout(30_000);
  const { cluster } = inProcessClusterSuite();

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

  /** Submits the command `name` with a filled form on the first request (XEP-0050 allows it). */
  function submit(client: TestClient, name: string, fields: Record<string, string[]>) {
    const form = buildForm({ type: 'submit', fields: [{ var: 'FORM_TYPE', type: 'hidden', values: [NS_ADMIN] }, ...Object.entries(fields).map(([v, values]) => ({ var: v, values }))] });
    return client.iq(`<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}' node='${NS_ADMIN}#${name}' action='execute'>${form.toString()}</command></iq>`);
  }
  const headline = (c: TestClient) => c.waitFor((s) => s.name === 'message' && s.attrs.type === 'headline', 5000);
  const modules = [roster, presence, disco, adhoc, admin];

  it('announces to the online users of every node (§4.23), and counts them all (§4.15)', async () => {
    const a = await cluster.start('a', modules, {}, { admins: ['admin@localhost'] });
    const b = await cluster.start('b', modules, {}, { admins: ['admin@localhost'] });
    const console = await a.ts.login('admin@localhost/console');
    const alice = await a.ts.login('alice@localhost/phone');
    const bob = await b.ts.login('bob@localhost/phone');
    const r = await submit(console, 'announce', { announcement: ['Restarting at noon'] });
    expect(r.getChild('command', NS_COMMANDS)?.attrs.status).to.equal('completed');
    for (const c of [alice, bob]) {
      const m = await headline(c);
      expect([m.attrs.from, m.attrs.to, m.getChildText('body')]).to.deep.equal(['localhost', c.jid, 'Restarting at noon']);
    }
    const num = await console.iq(`<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}' node='${NS_ADMIN}#get-online-users-num' action='execute'/></iq>`);
    const result = findForm(num.getChild('command', NS_COMMANDS)!)!;
    expect(getValue(result, 'onlineusersnum')).to.equal('3');
    expect(getField(result, 'onlineusersnum')?.label).to.contain('2 cluster nodes');
  });

  it('sends a message of the day set on one node to a login on another, once (§4.24)', async () => {
    const a = await cluster.start('a', modules, {}, { admins: ['admin@localhost'] });
    const b = await cluster.start('b', modules, {}, { admins: ['admin@localhost'] });
    const console = await a.ts.login('admin@localhost/console');
    const bob = await b.ts.login('bob@localhost/phone');
    await submit(console, 'set-motd', { motd: ['Cake in the lobby'] });
    expect((await headline(bob)).getChildText('body')).to.equal('Cake in the lobby');
    // Bob's copy came from b, which had taken a's post by then: a login on b now finds the message there.
    const carol = await b.ts.login('carol@localhost/x');
    await carol.send('<presence/>');
    expect((await headline(carol)).getChildText('body')).to.equal('Cake in the lobby');
    const bobAgain = await a.ts.login('bob@localhost/laptop');
    await bobAgain.send('<presence/>');
    const control = await a.ts.login('dave@localhost/x');
    await control.send('<presence/>');
    expect((await headline(control)).getChildText('body')).to.equal('Cake in the lobby');
    expect(bobAgain.all((s) => s.name === 'message')).to.deep.equal([]);
  });
});
