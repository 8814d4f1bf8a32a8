import { expect } from 'chai';
import { buildForm, findForm, getFormType, getValue, getValues, type DataForm, type FormField } from '../../../util/data-form.js';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import presence from '../rfc6121-presence/index.js';
import roster from '../rfc6121-roster/index.js';
import disco from '../xep-0030-disco/index.js';
import adhoc, { NS_COMMANDS } from '../xep-0050-adhoc/index.js';
import offline from '../xep-0160-offline/index.js';
import admin, { NS_ADMIN } from './index.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function commandIq(attrs: Record<string, string | undefined>, form?: DataForm): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}='${v}'`)
    .join('');
  return `<iq type='set' to='localhost'><command xmlns='${NS_COMMANDS}'${a}>${form ? buildForm(form).toString() : ''}</command></iq>`;
}

function command(reply: XmlElement): XmlElement {
  expect(reply.attrs.type, reply.toString()).to.equal('result');
  return reply.getChild('command', NS_COMMANDS)!;
}

function condition(reply: XmlElement): string | undefined {
  expect(reply.attrs.type, reply.toString()).to.equal('error');
  return reply.getChild('error')!.elements().find((e) => e.attrs.xmlns === STANZAS)?.name;
}

/**
 * What Smack's FillableForm submits: the form must be of type 'form', every
 * answered field must exist in it with a type that takes the answer, every
 * required field must be answered, and hidden fields (FORM_TYPE) are copied.
 */
function fill(form: DataForm, answers: Record<string, string | string[]>): DataForm {
  expect(form.type).to.equal('form');
  for (const [name, answer] of Object.entries(answers)) {
    const field = form.fields.find((f) => f.var === name);
    expect(field, `field ${name} in the form`).to.not.equal(undefined);
    const multi = field!.type === 'jid-multi' || field!.type === 'text-multi' || field!.type === 'list-multi';
    expect(multi, `${name} (${field!.type}) takes ${Array.isArray(answer) ? 'many values' : 'one value'}`).to.equal(Array.isArray(answer));
  }
  for (const f of form.fields) if (f.required) expect(answers, `required field ${f.var} answered`).to.have.property(f.var!);
  const fields: FormField[] = form.fields.filter((f) => f.type === 'hidden').map((f) => ({ var: f.var, type: 'hidden', values: f.values }));
  for (const [name, answer] of Object.entries(answers)) fields.push({ var: name, values: Array.isArray(answer) ? answer : [answer] });
  return { type: 'submit', fields };
}

/** ServiceAdministrationManager's flow: execute, fill the returned form, execute again with it; expects completion. */
async function smackStyle(client: TestClient, name: string, answers: Record<string, string | string[]>): Promise<XmlElement> {
  const node = `${NS_ADMIN}#${name}`;
  const first = command(await client.iq(commandIq({ node, action: 'execute' })));
  expect(first.attrs.status).to.equal('executing');
  const form = findForm(first)!;
  expect(getFormType(form)).to.equal(NS_ADMIN);
  return client.iq(commandIq({ node, sessionid: first.attrs.sessionid, action: 'execute' }, fill(form, answers)));
}

describe('XEP-0133 service administration', function () {
  let ts: TestServer;
  let boss: TestClient;
  beforeEach(async function () {
    ts = await TestServer.start([roster, disco, adhoc, admin], { server: { admins: ['boss@localhost'] } });
    boss = await ts.login('boss@localhost/console');
  });
  afterEach(async function () {
    await ts.stop();
  });

  it('offers the add-user form exactly as XEP-0133 §4.1 shows it', async function () {
    const c = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#add-user`, action: 'execute' })));
    const form = findForm(c)!;
    expect(form.fields.map((f) => [f.var, f.type, f.required ?? false])).to.deep.equal([
      ['FORM_TYPE', 'hidden', false],
      ['accountjid', 'jid-single', true],
      ['password', 'text-private', false],
      ['password-verify', 'text-private', false],
      ['email', 'text-single', false],
      ['given_name', 'text-single', false],
      ['surname', 'text-single', false],
    ]);
    expect(c.getChild('actions')!.attrs.execute).to.equal('complete');
  });

  it('adds a user the way Smack provisions test accounts', async function () {
    const created: string[] = [];
    ts.server.hooks.add('account/created', ({ jid }) => void created.push(jid.bare));
    const reply = await smackStyle(boss, 'add-user', { accountjid: 'smack-inttest-1@localhost', password: 'pw1', 'password-verify': 'pw1' });
    expect(command(reply).attrs.status).to.equal('completed');
    expect(await ts.server.accounts.verifyPassword(parseJid('smack-inttest-1@localhost'), 'pw1')).to.equal(true);
    expect(created).to.deep.equal(['smack-inttest-1@localhost']);
  });

  it('refuses to add an existing user, mismatched passwords and foreign domains', async function () {
    await ts.addUser('taken@localhost', 'old');
    expect(condition(await smackStyle(boss, 'add-user', { accountjid: 'taken@localhost', password: 'new', 'password-verify': 'new' }))).to.equal('conflict');
    expect(await ts.server.accounts.verifyPassword(parseJid('taken@localhost'), 'old')).to.equal(true);
    expect(condition(await smackStyle(boss, 'add-user', { accountjid: 'x@localhost', password: 'a', 'password-verify': 'b' }))).to.equal('not-acceptable');
    expect(condition(await smackStyle(boss, 'add-user', { accountjid: 'x@elsewhere.example', password: 'a', 'password-verify': 'a' }))).to.equal('not-acceptable');
    expect(await ts.server.accounts.exists(parseJid('x@localhost'))).to.equal(false);
  });

  it('deletes users the way Smack removes test accounts: data, sessions and all', async function () {
    const deleted: string[] = [];
    ts.server.hooks.add('account/deleted', ({ jid }) => void deleted.push(jid.bare));
    const victim = await ts.login('victim@localhost/phone');
    await ts.addUser('other@localhost');
    const reply = await smackStyle(boss, 'delete-user', { accountjids: ['victim@localhost', 'other@localhost'] });
    expect(command(reply).attrs.status).to.equal('completed');
    expect(await ts.server.accounts.exists(parseJid('victim@localhost'))).to.equal(false);
    expect(await ts.server.accounts.exists(parseJid('other@localhost'))).to.equal(false);
    expect(deleted).to.have.members(['victim@localhost', 'other@localhost']);
    expect(victim.closedWith).to.equal('not-authorized');
    expect(boss.closedWith).to.equal(undefined);
  });

  it('reports accounts it could not delete', async function () {
    await ts.addUser('real@localhost');
    const c = command(await smackStyle(boss, 'delete-user', { accountjids: ['real@localhost', 'ghost@localhost'] }));
    expect(c.attrs.status).to.equal('completed');
    expect(c.getChild('note')!.attrs.type).to.equal('warn');
    expect(c.getChildText('note')).to.contain('ghost@localhost');
    expect(condition(await smackStyle(boss, 'delete-user', { accountjids: ['ghost@localhost'] }))).to.equal('item-not-found');
  });

  it('changes a password with the XEP’s flow (no action on the submission)', async function () {
    await ts.addUser('juliet@localhost', 'R0m30');
    const node = `${NS_ADMIN}#change-user-password`;
    const first = command(await boss.iq(commandIq({ node, action: 'execute' })));
    const submitted = fill(findForm(first)!, { accountjid: 'juliet@localhost', password: 'V3r0n4' });
    const c = command(await boss.iq(commandIq({ node, sessionid: first.attrs.sessionid }, submitted)));
    expect(c.attrs.status).to.equal('completed');
    expect(await ts.server.accounts.verifyPassword(parseJid('juliet@localhost'), 'V3r0n4')).to.equal(true);
    expect(condition(await smackStyle(boss, 'change-user-password', { accountjid: 'nobody@localhost', password: 'x' }))).to.equal('item-not-found');
  });

  it('accepts a filled form on the first request', async function () {
    const form: DataForm = { type: 'submit', fields: [{ var: 'FORM_TYPE', type: 'hidden', values: [NS_ADMIN] }, { var: 'accountjid', values: ['quick@localhost'] }, { var: 'password', values: ['pw'] }] };
    const c = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#add-user`, action: 'execute' }, form)));
    expect(c.attrs.status).to.equal('completed');
    expect(await ts.server.accounts.verifyPassword(parseJid('quick@localhost'), 'pw')).to.equal(true);
  });

  it('counts and lists registered users of the addressed domain', async function () {
    await ts.addUser('a@localhost');
    await ts.addUser('b@localhost');
    const num = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#get-registered-users-num`, action: 'execute' })));
    expect(num.attrs.status).to.equal('completed');
    const result = findForm(num)!;
    expect(result.type).to.equal('result');
    expect(getValue(result, 'registeredusersnum')).to.equal('3');
    const list = command(await smackStyle(boss, 'get-registered-users-list', { max_items: '2' }));
    expect(getValues(findForm(list)!, 'registereduserjids')).to.deep.equal(['a@localhost', 'b@localhost']);
    const all = command(await smackStyle(boss, 'get-registered-users-list', { max_items: 'none' }));
    expect(getValues(findForm(all)!, 'registereduserjids')).to.deep.equal(['a@localhost', 'b@localhost', 'boss@localhost']);
  });

  it('ends all sessions of a bare JID, or one session of a full JID', async function () {
    const phone = await ts.login('romeo@localhost/phone');
    const laptop = await ts.login('romeo@localhost/laptop');
    const desk = await ts.login('mercutio@localhost/desk');
    const other = await ts.login('mercutio@localhost/other');
    expect(command(await smackStyle(boss, 'end-user-session', { accountjids: ['romeo@localhost', 'mercutio@localhost/desk'] })).attrs.status).to.equal('completed');
    expect([phone.closedWith, laptop.closedWith, desk.closedWith, other.closedWith]).to.deep.equal(['policy-violation', 'policy-violation', 'policy-violation', undefined]);
    expect(await ts.server.accounts.exists(parseJid('romeo@localhost'))).to.equal(true);
  });

  it('hides the commands from non-admins and refuses them with forbidden', async function () {
    const mallory = await ts.login('mallory@localhost/laptop');
    const list = async (c: TestClient): Promise<string[]> => {
      const r = await c.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='${NS_COMMANDS}'/></iq>`);
      return r.getChild('query')!.getChildren('item').map((i) => i.attrs.node!.replace(`${NS_ADMIN}#`, ''));
    };
    expect(await list(boss)).to.have.members([
      'add-user', 'delete-user', 'change-user-password', 'end-user-session', 'get-registered-users-num', 'get-registered-users-list',
      'get-online-users-num', 'get-online-users-list', 'announce', 'set-motd', 'edit-motd', 'delete-motd',
    ]);
    expect(await list(mallory)).to.deep.equal([]);
    const info = await mallory.iq(`<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='${NS_ADMIN}#add-user'/></iq>`);
    expect(condition(info)).to.equal('forbidden');
    for (const name of ['add-user', 'delete-user', 'get-registered-users-list', 'announce', 'set-motd', 'delete-motd', 'get-online-users-num']) {
      expect(condition(await mallory.iq(commandIq({ node: `${NS_ADMIN}#${name}`, action: 'execute' })))).to.equal('forbidden');
    }
    // Not with a session id taken from an admin either.
    const sid = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#add-user`, action: 'execute' }))).attrs.sessionid;
    const form: DataForm = { type: 'submit', fields: [{ var: 'accountjid', values: ['evil@localhost'] }, { var: 'password', values: ['pw'] }] };
    expect(condition(await mallory.iq(commandIq({ node: `${NS_ADMIN}#add-user`, sessionid: sid, action: 'complete' }, form)))).to.equal('forbidden');
    expect(await ts.server.accounts.exists(parseJid('evil@localhost'))).to.equal(false);
  });

  it('answers bad-sessionid for a session that does not exist', async function () {
    const reply = await boss.iq(commandIq({ node: `${NS_ADMIN}#add-user`, sessionid: 'nope', action: 'complete' }));
    expect(condition(reply)).to.equal('bad-request');
    expect(reply.getChild('error')!.getChild('bad-sessionid', NS_COMMANDS)).to.not.equal(undefined);
  });
});

describe('XEP-0133 announcements, message of the day and online users', function () {
  let ts: TestServer;
  let boss: TestClient;
  beforeEach(async function () {
    ts = await TestServer.start([roster, presence, disco, adhoc, offline, admin], { server: { admins: ['boss@localhost'] } });
    boss = await ts.login('boss@localhost/console');
  });
  afterEach(async function () {
    await ts.stop();
  });

  const headlines = (c: TestClient): XmlElement[] => c.all((s) => s.name === 'message' && s.attrs.type === 'headline');
  /** Logs in and sends initial presence, as a client does. */
  async function online(full: string): Promise<TestClient> {
    const c = await ts.login(full);
    await c.send('<presence/>');
    return c;
  }
  const motdText = (c: TestClient): Promise<string | undefined> => c.waitFor((s) => s.name === 'message' && s.attrs.type === 'headline').then((m) => m.getChildText('body'));

  it('announces to every online session, from the domain, as a headline, and keeps nothing for offline users', async function () {
    const alice = await online('alice@localhost/phone');
    const alice2 = await ts.login('alice@localhost/laptop');
    const bob = await online('bob@localhost/desk');
    await ts.addUser('carol@localhost');
    const reply = command(await smackStyle(boss, 'announce', { subject: 'Maintenance', announcement: ['Down at noon.', 'Back soon.'] }));
    expect(reply.attrs.status).to.equal('completed');
    for (const c of [alice, alice2, bob]) {
      const [m] = headlines(c);
      expect(m, c.jid).to.not.equal(undefined);
      expect(m!.attrs.from).to.equal('localhost');
      expect(m!.attrs.to).to.equal(c.jid);
      expect(m!.getChildText('subject')).to.equal('Maintenance');
      expect(m!.getChildText('body')).to.equal('Down at noon.\nBack soon.');
    }
    expect(await ts.store.range('offline', 'carol@localhost')).to.deep.equal([]);
    expect(await ts.store.range('offline', 'alice@localhost')).to.deep.equal([]);
  });

  it('counts and lists online users, each account once', async function () {
    await online('alice@localhost/phone');
    await ts.login('alice@localhost/laptop');
    await ts.login('bob@localhost/desk');
    await ts.addUser('carol@localhost');
    const num = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#get-online-users-num`, action: 'execute' })));
    expect(num.attrs.status).to.equal('completed');
    expect(getValue(findForm(num)!, 'onlineusersnum')).to.equal('3');
    const two = command(await smackStyle(boss, 'get-online-users-list', { max_items: '2' }));
    expect(getValues(findForm(two)!, 'onlineuserjids')).to.have.length(2);
    const all = command(await smackStyle(boss, 'get-online-users-list', { max_items: 'none' }));
    expect(getValues(findForm(all)!, 'onlineuserjids')).to.deep.equal(['alice@localhost', 'bob@localhost', 'boss@localhost']);
  });

  it('sends the message of the day to those online now and, once, to each account that logs in later', async function () {
    const bob = await online('bob@localhost/desk');
    await ts.addUser('alice@localhost');
    expect(command(await smackStyle(boss, 'set-motd', { motd: ['Welcome back.', 'New rooms!'] })).attrs.status).to.equal('completed');
    expect(await motdText(bob)).to.equal('Welcome back.\nNew rooms!');
    const alice = await online('alice@localhost/phone');
    expect(await motdText(alice)).to.equal('Welcome back.\nNew rooms!');
    expect(headlines(alice)).to.have.length(1);
    alice.close();
    bob.close();
    // Logging in again, each gets nothing; a newcomer logging in after them gets it, so theirs would have come by then.
    const [aliceAgain, bobAgain] = [await online('alice@localhost/phone'), await online('bob@localhost/desk')];
    const control = await online('control@localhost/x');
    expect(await motdText(control)).to.equal('Welcome back.\nNew rooms!');
    expect(headlines(aliceAgain)).to.deep.equal([]);
    expect(headlines(bobAgain)).to.deep.equal([]);
  });

  it('edits the message of the day without sending it again to those who got it, and deletes it', async function () {
    await smackStyle(boss, 'set-motd', { motd: ['Tea at five.'] });
    const alice = await online('alice@localhost/phone');
    expect(await motdText(alice)).to.equal('Tea at five.');
    // The edit form shows the current text (§4.25).
    const first = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#edit-motd`, action: 'execute' })));
    expect(getValues(findForm(first)!, 'motd')).to.deep.equal(['Tea at five.']);
    expect(command(await smackStyle(boss, 'edit-motd', { motd: ['Tea at six.'] })).attrs.status).to.equal('completed');
    const dave = await online('dave@localhost/x');
    expect(await motdText(dave)).to.equal('Tea at six.');
    alice.close();
    const aliceAgain = await online('alice@localhost/phone');
    expect(command(await boss.iq(commandIq({ node: `${NS_ADMIN}#delete-motd`, action: 'execute' }))).attrs.status).to.equal('completed');
    const erin = await online('erin@localhost/x');
    // After the delete nothing is sent; an announcement made after both logins is the first headline each gets.
    await smackStyle(boss, 'announce', { announcement: ['marker'] });
    expect(await motdText(erin)).to.equal('marker');
    expect(await motdText(aliceAgain)).to.equal('marker');
    const fresh = command(await boss.iq(commandIq({ node: `${NS_ADMIN}#edit-motd`, action: 'execute' })));
    expect(getValues(findForm(fresh)!, 'motd')).to.deep.equal([]);
  });
});
