import { expect } from 'chai';
import { parseJid } from '../../../util/jid.js';
import type { XmlElement } from '../../../util/xml.js';
import { parseXml } from '../../../testing/parse-xml.js';
import { TestServer } from '../../../testing/harness.js';
import type { PreAuthStream } from '../../module.js';
import register, { NS_REGISTER, NS_REGISTER_FEATURE } from './index.js';
import { RegistrationThrottle } from './throttle.js';
import { DeletedNames } from './deleted-names.js';
import { MemoryStore } from '../../../storage/memory/index.js';
import { Table } from '../../../storage/wide-column.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** A stream that has not authenticated, as the c2s layer hands it to pre-auth handlers. */
class FakeStream implements PreAuthStream {
  readonly host = 'localhost';
  readonly sent: XmlElement[] = [];
  constructor(
    readonly secure = true,
    readonly remoteAddress = '192.0.2.1',
  ) {}
  sendRaw(el: XmlElement): void {
    this.sent.push(parseXml(el.toString()));
  }
}

async function preAuth(ts: TestServer, stream: FakeStream, xml: string): Promise<XmlElement> {
  const handler = ts.server.registrations.preAuthIqs.get(NS_REGISTER);
  expect(handler, 'pre-auth handler for jabber:iq:register').to.not.equal(undefined);
  const before = stream.sent.length;
  await handler!(parseXml(xml), stream);
  expect(stream.sent.length).to.equal(before + 1);
  return stream.sent[before]!;
}

function registerIq(username: string, password: string, id = 'r1'): string {
  return `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${username}</username><password>${password}</password></query></iq>`;
}

function errorCondition(iq: XmlElement): string | undefined {
  expect(iq.attrs.type).to.equal('error');
  return iq.getChild('error')?.elements().find((e) => e.attrs.xmlns === STANZAS)?.name;
}

function start(options: Record<string, unknown> = {}): Promise<TestServer> {
  return TestServer.start([register], { modules: { enabled: ['register'], options: { register: options } } });
}

describe('XEP-0077 in-band registration', function () {
  let ts: TestServer;
  afterEach(async function () {
    await ts?.stop();
  });

  it('will not start where logins are tokens only (auth.passwords false): its accounts could never log in', async function () {
    let error: unknown;
    await TestServer.start([register], { auth: { passwords: false, jwtSecret: 'a secret of thirty-two bytes or more!' }, modules: { enabled: ['register'] } }).then(
      (started) => started.stop(),
      (e: unknown) => (error = e),
    );
    expect(String(error)).to.match(/auth\.passwords is false/);
  });

  describe('before authentication', function () {
    it('offers the stream feature on encrypted streams only, unless insecure registration is allowed', async function () {
      ts = await start();
      const build = (secure: boolean): (XmlElement | null)[] =>
        ts.server.registrations.streamFeatures.filter((f) => f.stage === 'pre-auth').map((f) => f.build({ secure, transport: 'tcp', host: 'localhost' }));
      expect(build(true).map((e) => e?.toString())).to.deep.equal([`<register xmlns="${NS_REGISTER_FEATURE}"/>`]);
      expect(build(false)).to.deep.equal([null]);
      expect(ts.server.features()).to.include(NS_REGISTER);
      await ts.stop();
      ts = await start({ allowInsecure: true });
      expect(ts.server.registrations.streamFeatures.find((f) => f.stage === 'pre-auth')!.build({ secure: false, transport: 'tcp', host: 'localhost' })).to.not.equal(null);
    });

    it('tells the client which fields to fill', async function () {
      ts = await start();
      const reply = await preAuth(ts, new FakeStream(), `<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(reply.attrs.id).to.equal('g1');
      const q = reply.getChild('query', NS_REGISTER)!;
      expect(q.elements().map((e) => e.name)).to.deep.equal(['instructions', 'username', 'password']);
      expect(q.getChildText('instructions')).to.match(/username and password/);
    });

    it('creates an account that can log in with its password, and fires account/created', async function () {
      ts = await start();
      const created: string[] = [];
      ts.server.hooks.add('account/created', ({ jid }) => void created.push(jid.bare));
      const reply = await preAuth(ts, new FakeStream(), registerIq('Juliet', 'r0meo'));
      expect(reply.attrs.type).to.equal('result');
      expect(reply.attrs.id).to.equal('r1');
      const jid = parseJid('juliet@localhost');
      expect(await ts.server.accounts.verifyPassword(jid, 'r0meo')).to.equal(true);
      expect(await ts.server.accounts.verifyPassword(jid, 'wrong')).to.equal(false);
      expect(created).to.deep.equal(['juliet@localhost']);
    });

    it('accepts the username and password in a data form (XEP-0077 §4)', async function () {
      ts = await start();
      const reply = await preAuth(
        ts,
        new FakeStream(),
        `<iq type='set' id='f1'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>
          <field var='FORM_TYPE'><value>jabber:iq:register</value></field>
          <field var='username'><value>nurse</value></field><field var='password'><value>pw</value></field>
        </x></query></iq>`,
      );
      expect(reply.attrs.type).to.equal('result');
      expect(await ts.server.accounts.verifyPassword(parseJid('nurse@localhost'), 'pw')).to.equal(true);
    });

    it('answers conflict for a taken username and keeps the old password', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      await ts.addUser('romeo@localhost', 'first');
      expect(errorCondition(await preAuth(ts, new FakeStream(), registerIq('romeo', 'second')))).to.equal('conflict');
      expect(await ts.server.accounts.verifyPassword(parseJid('romeo@localhost'), 'first')).to.equal(true);
    });

    it('will not give a deleted account\'s username to a newcomer, though an administrator may recreate it', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      expect((await preAuth(ts, new FakeStream(), registerIq('mercutio', 'first'))).attrs.type).to.equal('result');
      const mercutio = await ts.login('mercutio@localhost/m', { password: 'first' });
      expect((await mercutio.iq(`<iq type='set' id='bye'><query xmlns='jabber:iq:register'><remove/></query></iq>`)).attrs.type).to.equal('result');
      await ts.addUser('tybalt@localhost');
      const again = await preAuth(ts, new FakeStream(), registerIq('Mercutio', 'second', 'again'));
      expect(errorCondition(again)).to.equal('conflict');
      // Answered as a taken name is: a stranger must not learn that mercutio had an account here and deleted it.
      const taken = await preAuth(ts, new FakeStream(), registerIq('tybalt', 'second', 'again'));
      expect(again.toString()).to.equal(taken.toString());
      expect(await ts.server.accounts.exists(parseJid('mercutio@localhost'))).to.equal(false);
      // Other names are free as before.
      expect((await preAuth(ts, new FakeStream(), registerIq('benvolio', 'pw'))).attrs.type).to.equal('result');
      expect(await ts.server.createAccount(parseJid('mercutio@localhost'), 'by-admin')).to.equal(true);
    });

    it('answers not-acceptable for a bad or missing username and an empty password', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      const s = new FakeStream();
      expect(errorCondition(await preAuth(ts, s, registerIq('a b', 'pw')))).to.equal('not-acceptable');
      expect(errorCondition(await preAuth(ts, s, registerIq('a@b', 'pw')))).to.equal('not-acceptable');
      expect(errorCondition(await preAuth(ts, s, registerIq('', 'pw')))).to.equal('not-acceptable');
      expect(errorCondition(await preAuth(ts, s, registerIq('tybalt', '')))).to.equal('not-acceptable');
      expect(errorCondition(await preAuth(ts, s, `<iq type='set' id='m'><query xmlns='jabber:iq:register'><password>pw</password></query></iq>`))).to.equal('not-acceptable');
      expect(await ts.server.accounts.list('localhost')).to.deep.equal([]);
    });

    it('refuses a username that SASLprep maps to another name or forbids, as it could never log in', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      await ts.addUser('alice@localhost', 'hers');
      const s = new FakeStream();
      // A soft hyphen or zero-width joiner is invisible: "ali­ce" would pose as alice, and SASL logs it in as alice.
      for (const name of ['ali&#xAD;ce', 'bo&#x200D;b', 'pri&#xE000;vate']) {
        expect(errorCondition(await preAuth(ts, s, registerIq(name, 'pw'))), name).to.equal('not-acceptable');
      }
      expect(await ts.server.accounts.list('localhost')).to.deep.equal(['alice@localhost']);
    });

    it('answers not-acceptable, not internal-server-error, for a password SASL cannot carry (an emoji, a control)', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      const s = new FakeStream();
      for (const [name, password] of [['tybalt', 'pass&#x1F600;'], ['paris', 'a&#x85;b']] as const) {
        const reply = await preAuth(ts, s, registerIq(name, password));
        expect(errorCondition(reply), password).to.equal('not-acceptable');
        expect(reply.getChild('error')!.attrs.type).to.equal('modify');
      }
      expect(await ts.server.accounts.list('localhost')).to.deep.equal([]);
    });

    it('answers bad-request, not internal-server-error, for a payload in the namespace that is not <query/>', async function () {
      ts = await start();
      const reply = await preAuth(ts, new FakeStream(), `<iq type='set' id='q'><remove xmlns='jabber:iq:register'/></iq>`);
      expect(errorCondition(reply)).to.equal('bad-request');
    });

    it('refuses registration on an unencrypted stream unless allowed', async function () {
      ts = await start();
      expect(errorCondition(await preAuth(ts, new FakeStream(false), registerIq('mercutio', 'pw')))).to.equal('not-authorized');
      expect(await ts.server.accounts.exists(parseJid('mercutio@localhost'))).to.equal(false);
      await ts.stop();
      ts = await start({ allowInsecure: true });
      expect((await preAuth(ts, new FakeStream(false), registerIq('mercutio', 'pw'))).attrs.type).to.equal('result');
    });

    it('limits registrations per address, and not at all with 0', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 60 });
      expect((await preAuth(ts, new FakeStream(true, '192.0.2.7'), registerIq('one', 'pw'))).attrs.type).to.equal('result');
      const second = await preAuth(ts, new FakeStream(true, '192.0.2.7'), registerIq('two', 'pw'));
      expect(errorCondition(second)).to.equal('resource-constraint');
      expect(second.getChild('error')!.attrs.type).to.equal('wait');
      expect(await ts.server.accounts.exists(parseJid('two@localhost'))).to.equal(false);
      expect((await preAuth(ts, new FakeStream(true, '192.0.2.8'), registerIq('three', 'pw'))).attrs.type).to.equal('result');
      await ts.stop();
      ts = await start({ minSecondsBetweenRegistrations: 0 });
      for (const name of ['four', 'five', 'six']) {
        expect((await preAuth(ts, new FakeStream(true, '192.0.2.7'), registerIq(name, 'pw'))).attrs.type).to.equal('result');
      }
    });

    it('limits registrations per address when they arrive together, and a refused one does not count', async function () {
      ts = await start({ minSecondsBetweenRegistrations: 60 });
      await ts.addUser('taken@localhost');
      const handler = ts.server.registrations.preAuthIqs.get(NS_REGISTER)!;
      const streams = ['a', 'b', 'c'].map(() => new FakeStream(true, '192.0.2.7'));
      expect(errorCondition(await preAuth(ts, streams[0]!, registerIq('taken', 'pw')))).to.equal('conflict');
      await Promise.all(streams.map((s, i) => handler(parseXml(registerIq(`name${i}`, 'pw', `c${i}`)), s)));
      const outcomes = streams.map((s) => s.sent.at(-1)!).map((iq) => (iq.attrs.type === 'result' ? 'result' : errorCondition(iq)));
      expect(outcomes.sort()).to.deep.equal(['resource-constraint', 'resource-constraint', 'result']);
      expect(await ts.server.accounts.list('localhost')).to.have.length(2);
    });

    it('does not let an unauthenticated stream remove an account', async function () {
      ts = await start();
      await ts.addUser('romeo@localhost');
      const reply = await preAuth(ts, new FakeStream(), `<iq type='set' id='x'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
      expect(errorCondition(reply)).to.equal('not-authorized');
      expect(await ts.server.accounts.exists(parseJid('romeo@localhost'))).to.equal(true);
    });
  });

  describe('after authentication', function () {
    it('reports the account as registered', async function () {
      ts = await start();
      const alice = await ts.login('alice@localhost/phone');
      const reply = await alice.iq(`<iq type='get'><query xmlns='jabber:iq:register'/></iq>`);
      expect(reply.attrs.type).to.equal('result');
      const q = reply.getChild('query', NS_REGISTER)!;
      expect(q.getChild('registered')).to.not.equal(undefined);
      expect(q.getChildText('username')).to.equal('alice');
    });

    it('changes the password, addressed to nobody or to the server', async function () {
      ts = await start();
      const alice = await ts.login('alice@localhost/phone', { password: 'old' });
      const jid = parseJid('alice@localhost');
      let reply = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:register'><username>alice</username><password>new1</password></query></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(await ts.server.accounts.verifyPassword(jid, 'new1')).to.equal(true);
      expect(await ts.server.accounts.verifyPassword(jid, 'old')).to.equal(false);
      reply = await alice.iq(`<iq type='set' to='localhost'><query xmlns='jabber:iq:register'><username>alice</username><password>new2</password></query></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(await ts.server.accounts.verifyPassword(jid, 'new2')).to.equal(true);
    });

    it('ends the account\'s other sessions after a password change, as they may be an intruder\'s', async function () {
      ts = await start();
      await ts.addUser('bob@localhost');
      const phone = await ts.login('alice@localhost/phone', { password: 'leaked' });
      const intruder = await ts.login('alice@localhost/intruder', { password: 'leaked' });
      const bob = await ts.login('bob@localhost/desk');
      const reply = await phone.iq(`<iq type='set'><query xmlns='jabber:iq:register'><username>alice</username><password>fresh</password></query></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(intruder.closedWith).to.equal('reset');
      expect(phone.closedWith).to.equal(undefined);
      expect(bob.closedWith).to.equal(undefined);
      expect(ts.server.localSessions('alice@localhost').map((s) => s.jid.full)).to.deep.equal(['alice@localhost/phone']);
    });

    it('refuses a password change for another username or to an empty password', async function () {
      ts = await start();
      await ts.addUser('bob@localhost', 'bobpw');
      const alice = await ts.login('alice@localhost/phone', { password: 'old' });
      let reply = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:register'><username>bob</username><password>mine</password></query></iq>`);
      expect(errorCondition(reply)).to.equal('bad-request');
      expect(await ts.server.accounts.verifyPassword(parseJid('bob@localhost'), 'bobpw')).to.equal(true);
      reply = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:register'><username>alice</username><password></password></query></iq>`);
      expect(errorCondition(reply)).to.equal('not-acceptable');
      expect(await ts.server.accounts.verifyPassword(parseJid('alice@localhost'), 'old')).to.equal(true);
      // Another account is not a registration service.
      reply = await alice.iq(`<iq type='set' to='bob@localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
      expect(errorCondition(reply)).to.equal('service-unavailable');
      expect(await ts.server.accounts.exists(parseJid('bob@localhost'))).to.equal(true);
    });

    it('answers not-acceptable for a new password SASL cannot carry, and keeps the old one', async function () {
      ts = await start();
      const alice = await ts.login('alice@localhost/phone', { password: 'old' });
      const reply = await alice.iq(`<iq type='set'><query xmlns='jabber:iq:register'><username>alice</username><password>new&#x1F600;</password></query></iq>`);
      expect(errorCondition(reply)).to.equal('not-acceptable');
      expect(await ts.server.accounts.verifyPassword(parseJid('alice@localhost'), 'old')).to.equal(true);
    });

    it('refuses a password change on an unencrypted stream unless insecure registration is allowed (§3.3: not-authorized)', async function () {
      ts = await start();
      const alice = await ts.login('alice@localhost/phone', { password: 'old' });
      // As after a login in the clear where c2s.requireEncryption is false.
      (alice.session as { secure: boolean }).secure = false;
      const change = `<iq type='set'><query xmlns='jabber:iq:register'><username>alice</username><password>sniffed</password></query></iq>`;
      expect(errorCondition(await alice.iq(change))).to.equal('not-authorized');
      expect(await ts.server.accounts.verifyPassword(parseJid('alice@localhost'), 'old')).to.equal(true);
      await ts.stop();
      ts = await start({ allowInsecure: true });
      const bob = await ts.login('bob@localhost/desk', { password: 'old' });
      (bob.session as { secure: boolean }).secure = false;
      expect((await bob.iq(change.replace('alice', 'bob'))).attrs.type).to.equal('result');
    });

    it('removes the account: result first, then account/deleted and every session closed with not-authorized', async function () {
      ts = await start();
      await ts.addUser('bob@localhost');
      const deleted: string[] = [];
      ts.server.hooks.add('account/deleted', ({ jid }) => void deleted.push(jid.bare));
      const phone = await ts.login('alice@localhost/phone');
      const laptop = await ts.login('alice@localhost/laptop');
      const bob = await ts.login('bob@localhost/desk');
      let resultBeforeClose: boolean | undefined;
      ts.server.hooks.add('session/closed', ({ session }) => {
        if (session.jid.full === 'alice@localhost/phone') resultBeforeClose = phone.received.some((e) => e.attrs.id === 'unreg1');
      });
      const reply = await phone.iq(`<iq type='set' id='unreg1'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(phone.all((e) => e.attrs.id === 'unreg1')).to.have.length(1);
      expect(resultBeforeClose).to.equal(true);
      expect(phone.closedWith).to.equal('not-authorized');
      expect(laptop.closedWith).to.equal('not-authorized');
      expect(bob.closedWith).to.equal(undefined);
      expect(deleted).to.deep.equal(['alice@localhost']);
      expect(await ts.server.accounts.exists(parseJid('alice@localhost'))).to.equal(false);
      expect(ts.server.localSessions('alice@localhost')).to.have.length(0);
    });

    it('answers a removal with a wait error while the store is down, keeps the account and its sessions, and removes it once the store is back', async function () {
      ts = await start();
      const phone = await ts.login('alice@localhost/phone');
      ts.store.failing = new Error('down');
      let reply: XmlElement;
      try {
        reply = await phone.iq(`<iq type='set' id='unreg2'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
      } finally {
        ts.store.failing = null;
      }
      expect(phone.all((e) => e.attrs.id === 'unreg2').map((e) => e.attrs.type)).to.deep.equal(['error']);
      expect(errorCondition(reply)).to.equal('internal-server-error');
      expect(reply.getChild('error')!.attrs.type).to.equal('wait');
      expect(phone.closedWith).to.equal(undefined);
      expect(await ts.server.accounts.exists(parseJid('alice@localhost'))).to.equal(true);
      reply = await phone.iq(`<iq type='set' id='unreg3'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
      expect(reply.attrs.type).to.equal('result');
      expect(await ts.server.accounts.exists(parseJid('alice@localhost'))).to.equal(false);
    });
  });
});

describe('DeletedNames', function () {
  it('holds a name for the configured days, or for ever with 0', async function () {
    const store = new MemoryStore();
    await store.ensureTables(register.tables ?? []);
    let now = 1_000_000;
    const jid = parseJid('tybalt@localhost');
    const forAWeek = new DeletedNames(new Table(store, 'register_deleted'), 7, () => now);
    const forEver = new DeletedNames(new Table(store, 'register_deleted'), 0, () => now);
    expect(await forAWeek.held(jid)).to.equal(false);
    await forAWeek.hold(jid);
    now += 7 * 86_400_000 - 1;
    expect(await forAWeek.held(jid)).to.equal(true);
    now += 1;
    expect(await forAWeek.held(jid)).to.equal(false);
    expect(await forEver.held(jid)).to.equal(true);
  });
});

describe('RegistrationThrottle', function () {
  it('makes an address wait the interval after a registration, then forgets it', function () {
    let now = 1_000_000;
    const t = new RegistrationThrottle(60_000, () => now);
    expect(t.waitSeconds('a')).to.equal(0);
    t.record('a');
    now += 30_500;
    expect(t.waitSeconds('a')).to.equal(30);
    expect(t.waitSeconds('b')).to.equal(0);
    t.prune();
    expect(t.size).to.equal(1);
    now += 29_500;
    expect(t.waitSeconds('a')).to.equal(0);
    t.prune();
    expect(t.size).to.equal(0);
  });

  it('counts an IPv6 /64 as one address, as one host is usually given a whole /64 to pick from', function () {
    const t = new RegistrationThrottle(60_000, () => 1_000_000);
    t.record('2001:db8:0:7::1');
    expect(t.waitSeconds('2001:DB8::7:ffff:1:2:3')).to.equal(60);
    expect(t.waitSeconds('2001:db8:0:8::1')).to.equal(0);
    t.record('::ffff:192.0.2.1');
    expect(t.waitSeconds('192.0.2.1')).to.equal(60);
    expect(t.waitSeconds('192.0.2.2')).to.equal(0);
  });

  it('keeps nothing when disabled', function () {
    const t = new RegistrationThrottle(0);
    t.record('a');
    expect(t.waitSeconds('a')).to.equal(0);
    expect(t.size).to.equal(0);
  });
});
