/**
 * sori against Converse.js, the web client, unchanged, in headless Chromium
 * over WebSocket (RFC 7395) and BOSH (XEP-0206): it logs in, a message typed into its chat box
 * reaches an @xmpp/client user on TCP, the answer shows in the chat, and a
 * second browser (a new device, empty storage) logging in as the same user
 * finds the conversation in its archive (XEP-0313).
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { connectTcp, xml, type XmppSession } from './support/clients.js';
import { startConverse, type ConverseHarness } from './support/converse.js';
import { startSori, type SoriProcess } from './support/server.js';

describe('Converse.js in Chromium against sori', function () {
  this.timeout(90_000);
  let server: SoriProcess;
  let converse: ConverseHarness | undefined;
  let bob: XmppSession | undefined;

  before(async () => {
    server = await startSori({ users: { 'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw' } });
  });
  afterEach(async function () {
    // Converse logs every stanza at 'debug': on a failure, what it saw says why.
    if (this.currentTest?.state === 'failed' && converse !== undefined) console.log(converse.log.slice(-150).join('\n'));
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
  type TestWindow = { soriTest?: { api: { connection: { connected(): boolean }; chats: { open(jid: string): Promise<unknown> } } } };
  /** Waits for the login, then opens the chat with `jid` as a user would from the contacts list. */
  async function chatWith(page: Page, jid: string): Promise<void> {
    await page.waitForFunction(() => (globalThis as unknown as TestWindow).soriTest?.api.connection.connected() === true, undefined, { timeout: 20_000 });
    await page.evaluate((with_) => (globalThis as unknown as TestWindow).soriTest!.api.chats.open(with_), jid);
  }

  for (const transport of ['WebSocket', 'BOSH'] as const) {
    it(`over ${transport}: logs in, sends what is typed, shows what arrives, and a new device finds both in the archive`, async () => {
      converse = await startConverse(transport === 'WebSocket' ? { websocket_url: server.wsUrl } : { bosh_service_url: server.boshUrl });
      bob = await connectTcp(server, { username: 'bob', password: 'bob-pw', resource: 'tcp' });
      await bob.xmpp.send(xml('presence'));
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
});
