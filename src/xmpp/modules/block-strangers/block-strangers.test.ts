import { expect } from 'chai';
import { loadConfig } from '../../../config.js';
import { selectModules } from '../../../sori.js';
import { Table } from '../../../storage/wide-column.js';
import { TestServer, type TestClient } from '../../../testing/harness.js';
import { scrapedValue } from '../../../testing/metrics.js';
import type { XmlElement } from '../../../util/xml.js';
import { defineModule } from '../../module.js';
import { parseXml } from '../../stream/parse-xml.js';
import presence from '../rfc6121-presence/index.js';
import roster, { type Subscription } from '../rfc6121-roster/index.js';
import { RosterStore } from '../rfc6121-roster/store.js';
import offline from '../xep-0160-offline/index.js';
import mam, { NS_MAM } from '../xep-0313-mam/index.js';
import { createPushModule, NS_PUSH, NS_PUBSUB, type PushApi } from '../xep-0357-push/index.js';
import blockStrangers from './index.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const hasBody = (body: string) => (el: XmlElement) => el.name === 'message' && el.getChildText('body') === body;
const isPublish = (el: XmlElement) => el.name === 'iq' && el.getChild('pubsub', NS_PUBSUB) !== undefined;

let pushApi: PushApi;
const pushProbe = defineModule({ name: 'probe', implements: 'test', depends: ['push'], start(ctx) { pushApi = ctx.use<PushApi>('push'); } });

describe('block-strangers: messages from non-contacts', () => {
  let ts: TestServer;
  let bob: TestClient;
  /** Stanzas the server sent to other servers. */
  let remote: XmlElement[];

  async function start(options: Record<string, unknown> = {}, withModule = true): Promise<void> {
    const modules = [roster, presence, offline, mam, ...(withModule ? [blockStrangers] : [])];
    ts = await TestServer.start(modules, withModule ? { modules: { enabled: ['block-strangers'], options: { 'block-strangers': options } } } : {});
    remote = [];
    // The services the muc and upload modules would register.
    for (const domain of ['conference.localhost', 'upload.localhost']) ts.server.addServiceDomain(domain);
    ts.server.hooks.add('route/remote', ({ stanza }) => {
      remote.push(stanza);
      return true;
    });
    bob = await ts.login('bob@localhost/phone');
    await bob.send('<presence/>');
  }
  afterEach(() => ts?.stop());

  /** A stanza from another server (or anyone), as s2s hands it to the router. */
  const arrive = (xml: string) => ts.server.route(parseXml(xml));
  const chat = (from: string, body: string, attrs = "type='chat' to='bob@localhost'") => arrive(`<message xmlns='jabber:client' from='${from}' ${attrs}><body>${body}</body></message>`);
  const rosters = () => new RosterStore(new Table(ts.store, 'roster'), new Table(ts.store, 'roster_meta'), new Table(ts.store, 'roster_pending'));
  const addContact = (jid: string, subscription: Subscription, extra: { ask?: 'subscribe'; approved?: boolean } = {}) => rosters().put('bob@localhost', { jid, subscription, groups: [], ...extra });
  const refused = async (kind: string) => scrapedValue(ts.server.metrics.render(), 'sori_block_strangers_refused_total', { kind }) ?? 0;

  async function archivedBodies(c: TestClient): Promise<string[]> {
    const iq = await c.iq(`<iq type='set'><query xmlns='${NS_MAM}' queryid='q'/></iq>`);
    expect(iq.attrs.type).to.equal('result');
    return c.all((m) => m.getChild('result', NS_MAM) !== undefined).map((m) => m.getChild('result')!.getChild('forwarded')!.getChild('message')!.getChildText('body') ?? '');
  }

  it('drops a stranger\'s chat, normal and headline messages unseen and unarchived, and lets a contact\'s through', async () => {
    await start();
    await addContact('friend@remote.example', 'both');
    await chat('spam@remote.example/bot', 'to the bare JID');
    await chat('spam@remote.example/bot', 'to the full JID', "type='chat' to='bob@localhost/phone'");
    await chat('spam@remote.example/bot', 'normal', "to='bob@localhost'");
    await chat('spam@remote.example/bot', 'headline', "type='headline' to='bob@localhost'");
    await chat('friend@remote.example/pc', 'hello');
    await bob.waitFor(hasBody('hello'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['hello']);
    // Dropped, as ejabberd's drop option: the stranger is told nothing.
    expect(remote).to.deep.equal([]);
    expect(await archivedBodies(bob)).to.deep.equal(['hello']);
    expect(await refused('message')).to.equal(4);
  });

  it('keeps nothing offline and pushes nothing for a stranger\'s message to a user who is away', async () => {
    await ts?.stop();
    ts = await TestServer.start([roster, presence, offline, createPushModule(), pushProbe, blockStrangers], { modules: { enabled: ['block-strangers'] } });
    const appServer = await ts.login('appserver@localhost/srv');
    const away = await ts.login('bob@localhost/phone');
    await away.iq(`<iq type='set'><enable xmlns='${NS_PUSH}' jid='appserver@localhost/srv' node='n1'/></iq>`);
    away.session.close();
    await chat('spam@remote.example/bot', 'buy now');
    await pushApi.idle();
    expect(appServer.all(isPublish)).to.deep.equal([]);
    expect(await ts.store.range('offline', 'bob@localhost')).to.deep.equal([]);
    // The same path carries a contact's message to storage and push.
    await rosters().put('bob@localhost', { jid: 'friend@remote.example', subscription: 'both', groups: [] });
    await chat('friend@remote.example/pc', 'see you');
    const publish = await appServer.waitFor(isPublish);
    await appServer.send(`<iq type='result' id='${publish.attrs.id}' to='${publish.attrs.from}'/>`);
    await pushApi.idle();
    expect(await ts.store.range('offline', 'bob@localhost')).to.have.length(1);
  });

  it('with drop false, answers the stranger with policy-violation from the address it wrote to', async () => {
    await start({ drop: false });
    await arrive(`<message xmlns='jabber:client' from='spam@remote.example/bot' to='bob@localhost/phone' type='chat' id='s1'><body>hi</body></message>`);
    expect(bob.all((m) => m.name === 'message')).to.deep.equal([]);
    expect(remote).to.have.length(1);
    const error = remote[0]!;
    expect(error.attrs).to.include({ type: 'error', id: 's1', from: 'bob@localhost/phone', to: 'spam@remote.example/bot' });
    const el = error.getChild('error')!;
    expect(el.attrs.type).to.equal('modify');
    expect(el.getChild('policy-violation', NS_STANZAS)).to.not.equal(undefined);
    expect(el.getChildText('text', NS_STANZAS)).to.match(/strangers/);
    // An error is never answered with an error (RFC 6120 §8.3.1), nor judged.
    await arrive(`<message xmlns='jabber:client' from='spam@remote.example/bot' to='bob@localhost/phone' type='error'><body>x</body><error type='cancel'><item-not-found xmlns='${NS_STANZAS}'/></error></message>`);
    expect(remote).to.have.length(1);
    expect(bob.all((m) => m.name === 'message' && m.attrs.type === 'error')).to.have.length(1);
  });

  it('takes as a contact whoever the roster holds with a subscription either way, a pending request or a pre-approval; not an item with none', async () => {
    await start();
    await addContact('from@remote.example', 'from');
    await addContact('to@remote.example', 'to');
    await addContact('none@remote.example', 'none');
    await addContact('approved@remote.example', 'none', { approved: true });
    // Bob asks for a presence subscription, as clients do when a chat is started with someone new.
    await bob.send(`<presence type='subscribe' to='asked@remote.example'/>`);
    for (const who of ['from', 'to', 'none', 'approved', 'asked']) await chat(`${who}@remote.example/r`, who);
    await bob.waitFor(hasBody('asked'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['from', 'to', 'approved', 'asked']);
  });

  it('lets through the account itself, the server and its services, and bodyless notifications', async () => {
    await start();
    await chat('bob@localhost/laptop', 'own');
    await chat('localhost', 'server');
    await chat('room@conference.localhost', 'invitation', "to='bob@localhost'");
    await chat('upload.localhost', 'service');
    await chat('spam@remote.example/bot', 'spam');
    await arrive(`<message xmlns='jabber:client' from='spam@remote.example/bot' to='bob@localhost/phone' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`);
    await chat('bob@localhost/laptop', 'last');
    await bob.waitFor(hasBody('last'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body') ?? m.elements()[0]!.name)).to.deep.equal(['own', 'server', 'invitation', 'service', 'composing', 'last']);
  });

  it('takes as services the domains this server serves, not any subdomain of a served domain', async () => {
    await start();
    ts.server.addServiceDomain('gateway.example.net');
    await chat('spam@elsewhere.localhost/bot', 'another server under a served domain');
    await chat('user@gateway.example.net', 'a component named outside the served domains');
    await bob.waitFor(hasBody('a component named outside the served domains'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['a component named outside the served domains']);
  });

  it("drops a stranger's bodiless encrypted message, call proposal and room invitation, and lets its chat states through", async () => {
    await start();
    const bodiless = (payload: string) => arrive(`<message xmlns='jabber:client' from='spam@remote.example/bot' to='bob@localhost/phone' type='chat'>${payload}</message>`);
    await bodiless(`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>AAAA</iv></header><payload>AAAA</payload></encrypted>`);
    await bodiless(`<encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/><payload>AAAA</payload></encrypted>`);
    await bodiless(`<propose xmlns='urn:xmpp:jingle-message:0' id='call-1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>`);
    await bodiless(`<x xmlns='jabber:x:conference' jid='spam@muc.remote.example'/>`);
    await bodiless(`<active xmlns='http://jabber.org/protocol/chatstates'/>`);
    await bob.waitFor((m) => m.getChild('active', 'http://jabber.org/protocol/chatstates') !== undefined);
    expect(bob.all((m) => m.name === 'message').map((m) => m.elements()[0]!.name)).to.deep.equal(['active']);
    expect(await refused('message')).to.equal(4);
  });

  it("drops a stranger's message typed groupchat, and lets through the groupchat of a room the user is in", async () => {
    await start();
    await bob.send(`<presence to='room@muc.remote.example/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await chat('spam@remote.example/bot', 'spam as groupchat', "type='groupchat' to='bob@localhost/phone'");
    await chat('other@muc.remote.example/someone', 'a room bob is not in', "type='groupchat' to='bob@localhost/phone'");
    await chat('room@muc.remote.example/alice', 'in the room', "type='groupchat' to='bob@localhost/phone'");
    await bob.waitFor(hasBody('in the room'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['in the room']);
    expect(await refused('message')).to.equal(2);
  });

  it('lets through the occupants of a room the user is in: whoever it sent directed presence to (RFC 6121 §4.6)', async () => {
    await start();
    await bob.send(`<presence to='room@muc.remote.example/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await chat('room@muc.remote.example/alice', 'private message', "type='chat' to='bob@localhost/phone'");
    await chat('other@muc.remote.example/alice', 'another room');
    await bob.waitFor(hasBody('private message'));
    expect(bob.all(hasBody('another room'))).to.deep.equal([]);
    // Leaving the room makes its occupants strangers again.
    await bob.send(`<presence type='unavailable' to='room@muc.remote.example/bob'/>`);
    await chat('room@muc.remote.example/alice', 'after leaving', "type='chat' to='bob@localhost/phone'");
    expect(bob.all(hasBody('after leaving'))).to.deep.equal([]);
  });

  it('judges only other servers\' users unless allowLocalUsers is false, and never those at allowDomains', async () => {
    await start({ allowDomains: ['bridge.example'] });
    await chat('carol@localhost/pc', 'local stranger');
    await chat('user@telegram.bridge.example', 'bridged');
    await chat('user@bridge.example.evil', 'look-alike');
    await bob.waitFor(hasBody('bridged'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['local stranger', 'bridged']);
    await ts.stop();

    await start({ allowLocalUsers: false });
    await addContact('dave@localhost', 'both');
    const carol = await ts.login('carol@localhost/pc');
    await carol.send(`<message type='chat' to='bob@localhost'><body>local stranger</body></message>`);
    await chat('dave@localhost/pc', 'local contact');
    await chat('localhost', 'server');
    await chat('room@conference.localhost/nick', 'service');
    await bob.waitFor(hasBody('service'));
    expect(bob.all((m) => m.name === 'message').map((m) => m.getChildText('body'))).to.deep.equal(['local contact', 'server', 'service']);
  });

  describe('subscription requests', () => {
    const subscribe = (from: string) => arrive(`<presence xmlns='jabber:client' from='${from}' to='bob@localhost' type='subscribe'/>`);
    const requests = () => bob.all((p) => p.name === 'presence' && p.attrs.type === 'subscribe').map((p) => p.attrs.from);

    it('lets a stranger ask for a subscription by default, as ejabberd and Prosody do, while its message is dropped', async () => {
      await start();
      await subscribe('stranger@remote.example');
      await chat('stranger@remote.example/r', 'add me');
      expect(requests()).to.deep.equal(['stranger@remote.example']);
      expect(bob.all(hasBody('add me'))).to.deep.equal([]);
    });

    it('with blockSubscriptions, refuses a stranger\'s request, and lets through one the user asked for or pre-approved', async () => {
      await start({ blockSubscriptions: true, drop: false });
      await bob.send(`<presence type='subscribe' to='asked@remote.example'/>`);
      await bob.send(`<presence type='subscribed' to='approved@remote.example'/>`);
      remote.length = 0;
      await subscribe('stranger@remote.example/r');
      await subscribe('asked@remote.example');
      await subscribe('carol@localhost');
      expect(requests()).to.deep.equal(['asked@remote.example', 'carol@localhost']);
      // The pre-approved request is answered by the server at once (RFC 6121 §3.4).
      await subscribe('approved@remote.example');
      const answers = remote.filter((p) => p.attrs.type === 'error' || p.attrs.type === 'subscribed');
      expect(answers.map((p) => [p.attrs.to, p.attrs.type, p.getChild('error')?.elements()[0]?.name])).to.deep.equal([
        ['stranger@remote.example/r', 'error', 'policy-violation'],
        ['approved@remote.example', 'subscribed', undefined],
      ]);
      expect((await rosters().allPending('bob@localhost')).map((p) => p.contact)).to.deep.equal(['asked@remote.example', 'carol@localhost']);
      expect(await refused('subscribe')).to.equal(1);
    });
  });

  it('is off unless the operator enables it: with the default modules a stranger\'s message arrives, with block-strangers enabled it is dropped', async () => {
    const modules = (enabled: string[]) => selectModules(loadConfig({ env: {}, overrides: { modules: { enabled } } }));
    expect(modules([]).map((m) => m.name)).not.to.include('block-strangers');
    for (const enabled of [[], ['block-strangers']]) {
      ts = await TestServer.start(modules(enabled), { modules: { enabled } });
      bob = await ts.login('bob@localhost/phone');
      await bob.send('<presence/>');
      await chat('spam@remote.example/bot', 'hi');
      await arrive(`<presence xmlns='jabber:client' from='spam@remote.example' to='bob@localhost' type='subscribe'/>`);
      await bob.waitFor((p) => p.name === 'presence' && p.attrs.type === 'subscribe');
      expect(bob.all(hasBody('hi'))).to.have.length(enabled.length === 0 ? 1 : 0);
      await ts.stop();
    }
  });
});
