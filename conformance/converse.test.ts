/**
 * sori against Converse.js, the web client, unchanged, in headless Chromium
 * over WebSocket (RFC 7395) and BOSH (XEP-0206): it logs in, a message typed
 * into its chat box reaches an @xmpp/client user on TCP, the answer shows in
 * the chat, and a second browser (a new device, empty storage) logging in as
 * the same user finds the conversation in its archive (XEP-0313). Then: two
 * devices online at once stay in step (XEP-0280); two Converse users talk
 * with OMEMO, which the server archives only encrypted; a message it
 * retracts never reaches a new device's screen; a dropped connection is
 * resumed with nothing lost (XEP-0198); a picture chosen in the chat box is
 * uploaded from the page (XEP-0363, a cross-origin PUT); a room it joins
 * works both ways and gives a new device its history.
 */
import { expect } from 'chai';
import { eventually } from '../src/testing/eventually.js';
import type { Page } from 'playwright-core';
import { connectTcp, xml, type Element, type XmppSession } from './support/clients.js';
import { startConverse, type ConverseHarness } from './support/converse.js';
import { freePort, startSori, type SoriProcess } from './support/server.js';

describe('Converse.js in Chromium against sori', function () {
  this.timeout(90_000);
  let server: SoriProcess;
  let converse: ConverseHarness | undefined;
  let bob: XmppSession | undefined;

  before(async () => {
    // Uploads go over plain HTTP to the WebSocket listener, as behind a proxy that ends TLS.
    const httpPort = await freePort('127.0.0.1');
    server = await startSori({
      users: { 'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw' },
      config: { server: { logLevel: 'debug' }, websocket: { port: httpPort }, modules: { options: { upload: { urlBase: `http://127.0.0.1:${httpPort}/upload/` } } } },
    });
  });
  afterEach(async function () {
    // Converse logs every stanza at 'debug': on a failure, what it saw says why.
    // The server's own account (at debug: hibernation, resumption, what went offline) and what bob got back complete it.
    if (this.currentTest?.state === 'failed') {
      if (converse !== undefined) console.log(converse.log.slice(-150).join('\n'));
      console.log(`--- sori's log, last lines:\n${server.output().split('\n').slice(-80).join('\n')}`);
      if (bob !== undefined) console.log(`--- last stanzas bob received:\n${bob.received.slice(-10).map(String).join('\n')}`);
    }
    await bob?.stop();
    bob = undefined;
    await converse?.close();
    converse = undefined;
  });
  after(async () => {
    await server?.stop();
  });

  /** Waits until the page's chat shows a message with this text. */
  const shows = (page: Page, text: string): Promise<void> => page.locator('.chat-msg__text', { hasText: text }).first().waitFor({ timeout: 20_000 });
  /** The part of Converse's `api` the tests call (the page's one-line plugin hands it over as `soriTest.api`). */
  interface ConverseApi {
    connection: { connected(): boolean; get(): { jid: string; _proto: { socket: { close(): void } } } };
    chats: { open(jid: string): Promise<unknown>; get(jid: string): Promise<{ get(attribute: string): unknown; messages: { findWhere(attrs: object): unknown }; retractOwnMessage(message: unknown): Promise<void> }> };
    rooms: { open(jid: string, settings: { nick: string }): Promise<unknown> };
  }
  type TestWindow = { soriTest?: { api: ConverseApi } };
  /** The whole archive of `session`'s account (XEP-0313), as the messages it holds. */
  async function archiveOf(session: XmppSession, queryid: string): Promise<Element[]> {
    await session.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'urn:xmpp:mam:2', queryid })));
    return session.received
      .filter((m) => m.is('message') && m.getChild('result', 'urn:xmpp:mam:2')?.attrs.queryid === queryid)
      .map((m) => m.getChild('result', 'urn:xmpp:mam:2')!.getChild('forwarded')!.getChild('message')!);
  }
  /** Converse against this server, and bob online on TCP as `resource`; also kept in the suite's variables, for afterEach. */
  async function converseAndBob(endpoint: Parameters<typeof startConverse>[0] = { websocket_url: server.wsUrl }, resource = 'tcp'): Promise<{ converse: ConverseHarness; bob: XmppSession }> {
    converse = await startConverse(endpoint);
    bob = await connectTcp(server, { username: 'bob', password: 'bob-pw', resource });
    await bob.xmpp.send(xml('presence'));
    return { converse, bob };
  }
  const loggedIn = (page: Page): Promise<unknown> => page.waitForFunction(() => (globalThis as unknown as TestWindow).soriTest?.api.connection.connected() === true, undefined, { timeout: 20_000 });
  /** Waits for the login, then opens the chat with `jid` as a user would from the contacts list. */
  async function chatWith(page: Page, jid: string): Promise<void> {
    await loggedIn(page);
    await page.evaluate((with_) => (globalThis as unknown as TestWindow).soriTest!.api.chats.open(with_), jid);
  }

  for (const transport of ['WebSocket', 'BOSH'] as const) {
    it(`over ${transport}: logs in, sends what is typed, shows what arrives, and a new device finds both in the archive`, async () => {
      const { converse, bob } = await converseAndBob(transport === 'WebSocket' ? { websocket_url: server.wsUrl } : { bosh_service_url: server.boshUrl });
      const typed = `hello from converse over ${transport}`;
      const answer = `hello from bob, ${transport}`;

      const phone = await converse.open('alice@localhost', 'alice-pw');
      await chatWith(phone, 'bob@localhost');
      const box = phone.locator('.chat-textarea').first();
      await box.fill(typed);
      await box.press('Enter');
      const got = await bob.waitFor((el) => el.is('message') && el.getChildText('body') === typed, 20_000, 'the message typed in Converse');
      expect(got.attrs.from).to.match(/^alice@localhost\//);
      expect(got.attrs.type).to.equal('chat');

      await bob.xmpp.send(xml('message', { to: 'alice@localhost', type: 'chat' }, xml('body', {}, answer)));
      await shows(phone, answer);

      const laptop = await converse.open('alice@localhost', 'alice-pw');
      await chatWith(laptop, 'bob@localhost');
      await shows(laptop, typed);
      await shows(laptop, answer);
    });
  }

  it('keeps two devices in step (XEP-0280 carbons): what one sends and what arrives show on both', async () => {
    const { converse, bob } = await converseAndBob();
    const phone = await converse.open('alice@localhost', 'alice-pw');
    const laptop = await converse.open('alice@localhost', 'alice-pw');
    await chatWith(phone, 'bob@localhost');
    await chatWith(laptop, 'bob@localhost');
    const box = phone.locator('.chat-textarea').first();
    await box.fill('typed on the phone');
    await box.press('Enter');
    await bob.waitFor((el) => el.is('message') && el.getChildText('body') === 'typed on the phone', 20_000, 'the message from the phone');
    await shows(laptop, 'typed on the phone');
    // To the bare JID: both devices are available, so both get it.
    await bob.xmpp.send(xml('message', { to: 'alice@localhost', type: 'chat' }, xml('body', {}, 'for both devices')));
    await shows(phone, 'for both devices');
    await shows(laptop, 'for both devices');
  });

  /** Bob's OMEMO devices as anyone can read them (open PEP node); 0 before his first client publishes (item-not-found). */
  async function devicesOf(audit: XmppSession, id: string): Promise<number> {
    // Sent raw: @xmpp/iq's caller leaves its error rejections unhandled for a moment.
    await audit.xmpp.send(xml('iq', { type: 'get', to: 'bob@localhost', id }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('items', { node: 'urn:xmpp:omemo:2:devices' }))));
    const list = await audit.waitFor((el) => el.is('iq') && el.attrs.id === id, 5_000, 'his devicelist');
    return list.getChild('pubsub')?.getChild('items')?.getChild('item')?.getChild('devices', 'urn:xmpp:omemo:2')?.getChildren('device').length ?? 0;
  }
  const encrypted = (m: Element): boolean => m.getChild('encrypted', 'urn:xmpp:omemo:2') !== undefined;
  let omemoTries = 0;

  it('carries an OMEMO conversation between two Converse users (XEP-0384 v2 over PEP), which the server archives only encrypted', async function () {
    // Once in a full-suite run (load average ~4), alice's Converse sent the message in the clear, with OMEMO on for the chat:
    // it had asked for bob's legacy (axolotl) device list just before, and wrote before that fetch and its bundle fetches
    // were through. That race is the client's; more tries with new browsers keep the assertions as they are (a full run
    // on 2026-12-07 lost two tries in a row to it, both with omemo_active already true; alone the test passed every time).
    this.retries(2);
    // A try after a failed one runs against the same server, whose device list and archive keep what the earlier
    // tries left: what is there is counted first, and each assertion is about what this try adds.
    const attempt = ++omemoTries;
    const secret = attempt === 1 ? 'a secret for bob' : `a secret for bob, try ${attempt}`;
    // Bob's own client, watching: his devices, then his archive.
    bob = await connectTcp(server, { username: 'bob', password: 'bob-pw', resource: 'audit' });
    const audit = bob;
    const devicesBefore = await devicesOf(audit, `devices-before-${attempt}`);
    const encryptedBefore = (await archiveOf(audit, `omemo-before-${attempt}`)).filter(encrypted).length;
    converse = await startConverse({ websocket_url: server.wsUrl });
    const alice = await converse.open('alice@localhost', 'alice-pw', { omemo_default: true });
    const bobsBrowser = await converse.open('bob@localhost', 'bob-pw', { omemo_default: true });
    let polls = 0;
    await eventually(async () => expect(await devicesOf(audit, `devices-${attempt}-${polls++}`)).to.equal(devicesBefore + 1), 20_000);

    await chatWith(alice, 'bob@localhost');
    // Converse turns OMEMO on for the chat once it has fetched bob's devices; typed before that, the text would go out in the clear.
    await alice.waitForFunction(async () => (await (globalThis as unknown as TestWindow).soriTest!.api.chats.get('bob@localhost')).get('omemo_active') === true, undefined, { timeout: 20_000 });
    const box = alice.locator('.chat-textarea').first();
    await box.fill(secret);
    await box.press('Enter');
    await chatWith(bobsBrowser, 'alice@localhost');
    await shows(bobsBrowser, secret);

    // What sori stored: the encrypted payload and the fallback text, never the words.
    const archived = (await archiveOf(audit, `omemo-check-${attempt}`)).filter(encrypted);
    expect(archived).to.have.length(encryptedBefore + 1);
    const stored = archived[archived.length - 1]!;
    expect(stored.attrs.from).to.match(/^alice@localhost\//);
    expect(stored.toString()).to.not.include('a secret for bob');
  });

  it('retracts a message it sent (XEP-0424): the recipient is told, and a new device never sees the text', async () => {
    const { converse, bob } = await converseAndBob();
    const phone = await converse.open('alice@localhost', 'alice-pw');
    await chatWith(phone, 'bob@localhost');
    const box = phone.locator('.chat-textarea').first();
    await box.fill('sent to the wrong person');
    await box.press('Enter');
    const sent = await bob.waitFor((el) => el.is('message') && el.getChildText('body') === 'sent to the wrong person', 20_000, 'the message before its retraction');
    const originId = sent.getChild('origin-id', 'urn:xmpp:sid:0')!.attrs.id as string;
    // What the message's menu does once the user confirms: Converse's own retraction of its message.
    await phone.evaluate(async () => {
      const api = (globalThis as unknown as TestWindow).soriTest!.api;
      const chat = await api.chats.get('bob@localhost');
      await chat.retractOwnMessage(chat.messages.findWhere({ message: 'sent to the wrong person' }));
    });
    const retraction = await bob.waitFor((el) => el.is('message') && el.getChild('retract', 'urn:xmpp:message-retract:1') !== undefined, 20_000, 'the retraction');
    expect(retraction.getChild('retract', 'urn:xmpp:message-retract:1')!.attrs.id).to.equal(originId);
    await bob.xmpp.send(xml('message', { to: 'alice@localhost', type: 'chat' }, xml('body', {}, 'after the retraction')));

    const laptop = await converse.open('alice@localhost', 'alice-pw');
    await chatWith(laptop, 'bob@localhost');
    await shows(laptop, 'after the retraction');
    expect(await laptop.locator('.chat-msg__text', { hasText: 'sent to the wrong person' }).count()).to.equal(0);
    // Converse would hide it given the retraction alone; the archive itself no longer has the text, for any client.
    const archived = await archiveOf(bob, 'after-retraction');
    const tombstone = archived.find((m) => m.getChild('origin-id', 'urn:xmpp:sid:0')?.attrs.id === originId && m.getChild('retract', 'urn:xmpp:message-retract:1') === undefined);
    expect(tombstone?.getChild('retracted', 'urn:xmpp:message-retract:1'), 'a tombstone in place of the message').to.not.equal(undefined);
    expect(archived.map((m) => m.getChildText('body'))).to.not.include('sent to the wrong person');
  });

  it('resumes its session when the connection drops (XEP-0198) and shows the message sent meanwhile', async () => {
    const { converse, bob } = await converseAndBob();
    const phone = await converse.open('alice@localhost', 'alice-pw');
    await chatWith(phone, 'bob@localhost');
    await eventually(() => expect(converse!.log.some((l) => l.includes('<enabled xmlns="urn:xmpp:sm:3"'))).to.equal(true), 20_000);
    // To this session itself: whether the server has its initial presence yet, and which of alice's resources from
    // earlier tests still sleep, must not decide where the message goes.
    const full = await phone.evaluate(() => (globalThis as unknown as TestWindow).soriTest!.api.connection.get().jid);
    expect(full).to.match(/^alice@localhost\/./);
    // The socket closes under Converse without a stream close, as when a phone changes networks.
    await phone.evaluate(() => (globalThis as unknown as TestWindow).soriTest!.api.connection.get()._proto.socket.close());
    await bob.xmpp.send(xml('message', { to: full, type: 'chat' }, xml('body', {}, 'sent while the connection was down')));
    await shows(phone, 'sent while the connection was down');
    expect(converse.log.some((l) => l.includes('<resumed xmlns="urn:xmpp:sm:3"')), 'Converse resumed its session').to.equal(true);
  });

  it('uploads a picture chosen in its chat box (XEP-0363, a CORS PUT from the page) and sends the link, which serves the same bytes', async () => {
    const { converse, bob } = await converseAndBob();
    const phone = await converse.open('alice@localhost', 'alice-pw');
    await chatWith(phone, 'bob@localhost');
    // A real PNG (1×1), so that Converse shows it as the image it is.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    await phone.locator('input[type=file]').first().setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: png });
    const got = await bob.waitFor((el) => el.is('message') && el.getChild('x', 'jabber:x:oob') !== undefined, 20_000, 'the upload link from Converse');
    const url = got.getChild('x', 'jabber:x:oob')!.getChildText('url')!;
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/upload\/.+\/dot\.png$/);
    expect(got.getChildText('body')).to.equal(url);
    const res = await fetch(url);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).to.equal(true);
  });

  it('joins a room, talks with an @xmpp/client occupant, and a new device gets the room history (XEP-0045, XEP-0313 in rooms)', async () => {
    converse = await startConverse({ websocket_url: server.wsUrl });
    const room = 'lobby@conference.localhost';
    const phone = await converse.open('alice@localhost', 'alice-pw');
    await loggedIn(phone);
    await phone.evaluate((jid) => (globalThis as unknown as TestWindow).soriTest!.api.rooms.open(jid, { nick: 'alice' }), room);
    // Converse creates the room (instant room) and is its owner; bob joins it.
    bob = await connectTcp(server, { username: 'bob', password: 'bob-pw', resource: 'tcp' });
    await eventually(async () => {
      await bob!.xmpp.send(xml('presence', { to: `${room}/bob` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' }, xml('history', { maxstanzas: '0' }))));
      await bob!.waitFor((el) => el.is('presence') && el.attrs.from === `${room}/bob` && el.attrs.type !== 'error', 2_000, 'bob in the room');
    }, 20_000);
    await phone.locator('converse-muc-occupant, .occupant-list li', { hasText: 'bob' }).first().waitFor({ timeout: 20_000 });

    const box = phone.locator('.chat-textarea').first();
    await box.fill('hello room');
    await box.press('Enter');
    const got = await bob.waitFor((el) => el.is('message') && el.attrs.type === 'groupchat' && el.getChildText('body') === 'hello room', 20_000, 'the room message typed in Converse');
    expect(got.attrs.from).to.equal(`${room}/alice`);
    await bob.xmpp.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'hello alice, says bob')));
    await shows(phone, 'hello alice, says bob');

    const laptop = await converse.open('alice@localhost', 'alice-pw');
    await loggedIn(laptop);
    await laptop.evaluate((jid) => (globalThis as unknown as TestWindow).soriTest!.api.rooms.open(jid, { nick: 'alice' }), room);
    await shows(laptop, 'hello room');
    await shows(laptop, 'hello alice, says bob');
  });
});
