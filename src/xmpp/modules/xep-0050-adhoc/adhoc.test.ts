import { expect } from 'chai';
import { buildForm, findForm, getValue, type DataForm } from '../../../util/data-form.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import type { XmlElement } from '../../../util/xml.js';
import { StanzaError } from '../../errors.js';
import { defineModule } from '../../module.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS, type AdhocApi, type CommandRequest } from './index.js';
import { CommandSessions } from './sessions.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NODE_WIZARD = 'urn:test:wizard';
const NODE_SECRET = 'urn:test:secret';
/** Every request the wizard command received in the current test. */
const seen: CommandRequest[] = [];

/** Two stages (name, then colour, with prev back to name), and a command only alice may run. */
const wizard = defineModule({
  name: 'wizard',
  implements: 'test',
  depends: ['adhoc'],
  start(ctx) {
    const api = ctx.use<AdhocApi>('adhoc');
    const nameForm: DataForm = { type: 'form', fields: [{ var: 'name', type: 'text-single', required: true, values: [] }] };
    const colourForm: DataForm = { type: 'form', fields: [{ var: 'colour', type: 'text-single', values: [] }] };
    ctx.onStop(
      api.addCommand({
        node: NODE_WIZARD,
        name: 'Wizard',
        allowed: () => true,
        execute(req) {
          seen.push(req);
          if (req.action === 'execute') return { status: 'executing', form: nameForm, actions: ['next'] };
          if (req.action === 'prev') return { status: 'executing', form: nameForm, actions: ['next'] };
          if (req.action === 'next') {
            const name = req.form === undefined ? undefined : getValue(req.form, 'name');
            if (name === undefined) throw new StanzaError('bad-request', 'name missing');
            req.state.set('name', name);
            return { status: 'executing', form: colourForm, actions: ['prev', 'complete'], execute: 'complete' };
          }
          const colour = req.form === undefined ? '' : (getValue(req.form, 'colour') ?? '');
          return { status: 'completed', notes: [{ type: 'info', text: `${String(req.state.get('name'))} likes ${colour}` }] };
        },
      }),
    );
    ctx.onStop(api.addCommand({ node: NODE_SECRET, name: 'Secret', allowed: (jid) => jid.bare === 'alice@localhost', execute: () => ({ status: 'completed' }) }));
  },
});

function command(attrs: Record<string, string>, form?: DataForm): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}='${v}'`)
    .join('');
  return `<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}'${a}>${form ? buildForm(form).toString() : ''}</command></iq>`;
}

function cmd(reply: XmlElement): XmlElement {
  expect(reply.attrs.type, reply.toString()).to.equal('result');
  return reply.getChild('command', NS_COMMANDS)!;
}

/** The general condition and the XEP-0050 specific one of an error reply. */
function errors(reply: XmlElement): [string | undefined, string | undefined] {
  expect(reply.attrs.type, reply.toString()).to.equal('error');
  const els = reply.getChild('error')!.elements();
  return [els.find((e) => e.attrs.xmlns === STANZAS)?.name, els.find((e) => e.attrs.xmlns === NS_COMMANDS)?.name];
}

describe('XEP-0050 ad-hoc commands', function () {
  let ts: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeEach(async function () {
    seen.length = 0;
    ts = await TestServer.start([roster, disco, adhoc, wizard]);
    alice = await ts.login('alice@localhost/phone');
    bob = await ts.login('bob@localhost/desk');
  });
  afterEach(async function () {
    await ts.stop();
  });

  it('advertises the feature and lists in disco only the commands the requester may run', async function () {
    const info = await alice.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).to.include(NS_COMMANDS);
    const items = async (c: TestClient): Promise<string[]> => {
      const r = await c.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='${NS_COMMANDS}'/></iq>`);
      expect(r.attrs.type).to.equal('result');
      const q = r.getChild('query')!;
      expect(q.attrs.node).to.equal(NS_COMMANDS);
      for (const i of q.getChildren('item')) expect(i.attrs.jid).to.equal('localhost');
      return q.getChildren('item').map((i) => `${i.attrs.node}|${i.attrs.name}`);
    };
    expect(await items(alice)).to.deep.equal([`${NODE_WIZARD}|Wizard`, `${NODE_SECRET}|Secret`]);
    expect(await items(bob)).to.deep.equal([`${NODE_WIZARD}|Wizard`]);
  });

  it('describes each command node in disco#info', async function () {
    const r = await bob.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${NODE_WIZARD}'/></iq>`);
    const q = r.getChild('query')!;
    expect(q.getChild('identity')!.attrs).to.include({ category: 'automation', type: 'command-node', name: 'Wizard' });
    expect(q.getChildren('feature').map((f) => f.attrs.var)).to.have.members([NS_COMMANDS, 'jabber:x:data']);
    const unknown = await bob.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:nope'/></iq>`);
    expect(unknown.attrs.type).to.equal('error');
  });

  it('answers disco#info on a command node with forbidden to a requester who may not run it (XEP-0050 §2.2)', async function () {
    const info = (c: TestClient): Promise<XmlElement> => c.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${NODE_SECRET}'/></iq>`);
    const refused = await info(bob);
    expect(refused.attrs.type, refused.toString()).to.equal('error');
    expect(refused.getChild('error')!.getChild('forbidden', STANZAS)).to.not.equal(undefined);
    expect(refused.toString()).to.not.include('Secret');
    const shown = await info(alice);
    expect(shown.getChild('query')!.getChild('identity')!.attrs).to.include({ type: 'command-node', name: 'Secret' });
  });

  it('runs a multi-stage session: execute, next, prev, next, then a plain execute meaning complete', async function () {
    let c = cmd(await alice.iq(command({ node: NODE_WIZARD, action: 'execute' })));
    expect(c.attrs.status).to.equal('executing');
    const sid = c.attrs.sessionid!;
    expect(sid).to.be.a('string').and.not.equal('');
    expect(c.getChild('actions')!.attrs.execute).to.equal('next');
    expect(c.getChild('actions')!.elements().map((e) => e.name)).to.deep.equal(['next']);
    expect(findForm(c)!.fields.map((f) => f.var)).to.deep.equal(['name']);

    const submitName = (name: string): DataForm => ({ type: 'submit', fields: [{ var: 'name', values: [name] }] });
    c = cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' }, submitName('Alic'))));
    expect(c.attrs.sessionid).to.equal(sid);
    expect(c.getChild('actions')!.elements().map((e) => e.name)).to.deep.equal(['prev', 'complete']);
    expect(c.getChild('actions')!.attrs.execute).to.equal('complete');

    c = cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'prev' })));
    expect(findForm(c)!.fields.map((f) => f.var)).to.deep.equal(['name']);
    c = cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' }, submitName('Alice'))));

    // No action attribute: the stage's default (complete).
    c = cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid }, { type: 'submit', fields: [{ var: 'colour', values: ['green'] }] })));
    expect(c.attrs.status).to.equal('completed');
    expect(c.getChildText('note')).to.equal('Alice likes green');
    expect(c.getChild('actions')).to.equal(undefined);

    // A finished session cannot be continued.
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'complete' })))).to.deep.equal(['bad-request', 'bad-sessionid']);
  });

  it('refuses actions the stage did not offer with bad-action, and unknown actions with malformed-action', async function () {
    const sid = cmd(await alice.iq(command({ node: NODE_WIZARD }))).attrs.sessionid!;
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'complete' })))).to.deep.equal(['bad-request', 'bad-action']);
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'prev' })))).to.deep.equal(['bad-request', 'bad-action']);
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'jump' })))).to.deep.equal(['bad-request', 'malformed-action']);
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, action: 'next' })))).to.deep.equal(['bad-request', 'bad-action']);
    // The session survived the refused requests.
    expect(cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' }, { type: 'submit', fields: [{ var: 'name', values: ['A'] }] }))).attrs.status).to.equal('executing');
  });

  it('answers bad-sessionid for unknown sessions and for sessions started by someone else', async function () {
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: 'made-up', action: 'next' })))).to.deep.equal(['bad-request', 'bad-sessionid']);
    const sid = cmd(await alice.iq(command({ node: NODE_WIZARD }))).attrs.sessionid!;
    expect(errors(await bob.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'cancel' })))).to.deep.equal(['bad-request', 'bad-sessionid']);
    const other = await ts.login('alice@localhost/laptop');
    expect(errors(await other.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' })))).to.deep.equal(['bad-request', 'bad-sessionid']);
  });

  it('cancels a session', async function () {
    const sid = cmd(await alice.iq(command({ node: NODE_WIZARD }))).attrs.sessionid!;
    const c = cmd(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'cancel' })));
    expect(c.attrs).to.include({ status: 'canceled', sessionid: sid, node: NODE_WIZARD });
    expect(errors(await alice.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' })))).to.deep.equal(['bad-request', 'bad-sessionid']);
  });

  it('answers forbidden to requesters the command does not allow, and item-not-found for unknown nodes', async function () {
    expect(errors(await bob.iq(command({ node: NODE_SECRET, action: 'execute' })))[0]).to.equal('forbidden');
    expect(cmd(await alice.iq(command({ node: NODE_SECRET, action: 'execute' }))).attrs.status).to.equal('completed');
    expect(errors(await alice.iq(command({ node: 'urn:nope', action: 'execute' })))[0]).to.equal('item-not-found');
  });

  it('hands a command the submitted form, its stage and the requester', async function () {
    const sid = cmd(await bob.iq(command({ node: NODE_WIZARD }))).attrs.sessionid!;
    await bob.iq(command({ node: NODE_WIZARD, sessionid: sid, action: 'next' }, { type: 'submit', fields: [{ var: 'name', values: ['Bob'] }] }));
    expect(seen.map((r) => [r.action, r.stage, r.from.full, r.to.full])).to.deep.equal([
      ['execute', 0, 'bob@localhost/desk', 'localhost'],
      ['next', 1, 'bob@localhost/desk', 'localhost'],
    ]);
    expect(getValue(seen[1]!.form!, 'name')).to.equal('Bob');
  });
});

describe('CommandSessions', function () {
  it('expires idle sessions and caps how many are open', function () {
    let now = 0;
    const s = new CommandSessions(1000, 2, () => now);
    const a = s.open('n', 'a@x/r')!;
    const b = s.open('n', 'b@x/r')!;
    expect(a.id).to.not.equal(b.id);
    expect(s.open('n', 'c@x/r')).to.equal(null);
    now = 900;
    s.touch(a);
    now = 1500;
    expect(s.get(b.id)).to.equal('expired');
    expect(s.get(b.id)).to.equal(undefined);
    expect(s.get(a.id)).to.equal(a);
    expect(s.open('n', 'c@x/r')).to.not.equal(null);
    now = 5000;
    expect(s.open('n', 'd@x/r')).to.not.equal(null);
    expect(s.size).to.equal(1);
  });
});
