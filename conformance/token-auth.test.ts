/**
 * Logging in with an application's own tokens (auth.jwt*): sori in-process,
 * the tokens signed by jose's SignJWT as a backend would sign them, and
 * @xmpp/client logging in over TCP + STARTTLS with the token as its
 * password, unchanged. With `auth.passwords` false the stream offers PLAIN
 * only, so the client cannot pick SCRAM, which a token cannot satisfy.
 */
import { expect } from 'chai';
import { SignJWT } from 'jose';
import type { Sori } from '../src/sori.js';
import { RawClient } from '../src/testing/raw-client.js';
import { parseJid } from '../src/util/jid.js';
import { connectTcp, trustTestPort, xml, type XmppSession } from './support/clients.js';
import { startTestSori } from '../src/testing/test-sori.js';

const DOMAIN = 'localhost';
const SECRET = 'the app backend and sori share this secret, 32+ bytes';

const tokenFor = (sub: string, secret = SECRET, expiresIn = '1h'): Promise<string> =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://app.example').setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));

describe('login tokens (JWT) with @xmpp/client', function () {
  this.timeout(30_000);
  let sori: Sori;
  let at: { host: string; port: number; domain: string };
  const sessions: XmppSession[] = [];

  before(async () => {
    sori = await startTestSori({ c2s: { maxLoginFailures: 1000 }, auth: { passwords: false, jwtSecret: SECRET, jwtIssuer: 'https://app.example' } });
    // An account with a password, which must not log in with it while passwords are off.
    await sori.server.accounts.create(parseJid(`carol@${DOMAIN}`), 'carol-pw');
    trustTestPort(sori.listening.ports.c2s!);
    at = { host: '127.0.0.1', port: sori.listening.ports.c2s!, domain: DOMAIN };
  });
  after(async () => {
    for (const s of sessions) await s.stop();
    await sori?.stop();
  });

  it('offers only PLAIN, and only after STARTTLS', async () => {
    const clear = await RawClient.connect(at.port);
    clear.open();
    expect((await clear.features()).getChild('mechanisms')).to.equal(undefined);
    clear.destroy();
    const c = await RawClient.connect(at.port);
    await c.startTls();
    c.open();
    const mechanisms = (await c.features()).getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText());
    expect(mechanisms).to.deep.equal(['PLAIN']);
    c.destroy();
  });

  it('logs in users the server has never seen, who can then be written to while offline', async () => {
    expect(await sori.server.accounts.exists(parseJid(`dave@${DOMAIN}`))).to.equal(false);
    const dave = await connectTcp(at, { username: 'dave', password: await tokenFor('dave'), resource: 'phone' });
    sessions.push(dave);
    expect(dave.jid).to.equal(`dave@${DOMAIN}/phone`);
    // erin logs in once (her account now exists), then goes away.
    const erin = await connectTcp(at, { username: 'erin', password: await tokenFor(`erin@${DOMAIN}`) });
    await erin.stop();
    await dave.xmpp.send(xml('message', { to: `erin@${DOMAIN}`, type: 'chat', id: 'm1' }, xml('body', {}, 'see you tomorrow')));
    const back = await connectTcp(at, { username: 'erin', password: await tokenFor('erin') });
    sessions.push(back);
    await back.xmpp.send(xml('presence'));
    const kept = await back.waitFor((m) => m.is('message') && m.getChildText('body') === 'see you tomorrow', 10_000, 'the message kept offline');
    expect(String(kept.attrs.from)).to.equal(`dave@${DOMAIN}/phone`);
  });

  it('refuses a token for someone else, an expired one, one signed with another secret, and a password', async () => {
    const refusal = async (username: string, password: string): Promise<string> => {
      try {
        const s = await connectTcp(at, { username, password });
        await s.stop();
        return 'logged in';
      } catch (e) {
        return String(e);
      }
    };
    expect(await refusal('dave', await tokenFor('erin'))).to.match(/not-authorized/);
    expect(await refusal('dave', await tokenFor('dave', SECRET, '-5min'))).to.match(/not-authorized/);
    expect(await refusal('dave', await tokenFor('dave', 'a different secret, also 32 bytes or more'))).to.match(/not-authorized/);
    expect(await refusal('carol', 'carol-pw')).to.match(/not-authorized/);
  });
});

describe('login tokens beside passwords', function () {
  this.timeout(30_000);

  it('keeps SCRAM for password accounts and takes tokens through PLAIN', async () => {
    const node = await startTestSori({ auth: { jwtSecret: SECRET } });
    try {
      await node.server.accounts.create(parseJid(`carol@${DOMAIN}`), 'carol-pw');
      const port = node.listening.ports.c2s!;
      trustTestPort(port);
      // @xmpp/client picks SCRAM-SHA-1, offered as before.
      const carol = await connectTcp({ host: '127.0.0.1', port, domain: DOMAIN }, { username: 'carol', password: 'carol-pw' });
      await carol.stop();
      const raw = await RawClient.connect(port);
      await raw.startTls();
      raw.open();
      const mechanisms = (await raw.features()).getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText());
      expect(mechanisms).to.include.members(['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
      const plain = Buffer.from(`\0frank\0${await tokenFor('frank')}`).toString('base64');
      raw.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
      expect((await raw.next((e) => e.name === 'success' || e.name === 'failure')).name).to.equal('success');
      raw.destroy();
    } finally {
      await node.stop();
    }
  });
});
