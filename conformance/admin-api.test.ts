/**
 * The admin API (module `admin-api`) as an application backend uses it:
 * sori in-process, requests with fetch, and @xmpp/client as the users whose
 * accounts it manages and who receive what it sends.
 */
import { expect } from 'chai';
import { SignJWT } from 'jose';
import type { Sori } from '../src/sori.js';
import { eventually } from '../src/testing/eventually.js';
import { RawClient } from '../src/testing/raw-client.js';
import { connectTcp, trustTestPort, xml, type XmppSession } from './support/clients.js';
import { startTestSori } from '../src/testing/test-sori.js';

const DOMAIN = 'localhost';
const API_TOKEN = 'backend-token-0123456789abcdef0123456789';
const JWT_SECRET = 'tokens for users, signed by the backend, 32+ bytes';

const startWith = (api: Record<string, unknown>): Promise<Sori> =>
  startTestSori({
    c2s: { maxLoginFailures: 1000 },
    auth: { jwtSecret: JWT_SECRET },
    modules: { enabled: ['admin-api'], options: { 'admin-api': { token: API_TOKEN, ...api } } },
  });

describe('admin API for an application backend', function () {
  this.timeout(30_000);
  let sori: Sori;
  let base: string;
  let at: { host: string; port: number; domain: string };
  const sessions: XmppSession[] = [];

  const call = (method: string, path: string, body?: unknown, token = API_TOKEN): Promise<Response> =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const login = async (username: string, password: string): Promise<XmppSession> => {
    const s = await connectTcp(at, { username, password, resource: 'phone' });
    sessions.push(s);
    return s;
  };
  const loginFails = async (username: string, password: string): Promise<boolean> =>
    connectTcp(at, { username, password }).then(
      async (s) => {
        await s.stop();
        return false;
      },
      () => true,
    );

  before(async () => {
    sori = await startWith({});
    base = `http://127.0.0.1:${sori.listening.ports.ws!}/api`;
    trustTestPort(sori.listening.ports.c2s!);
    at = { host: '127.0.0.1', port: sori.listening.ports.c2s!, domain: DOMAIN };
  });
  after(async () => {
    for (const s of sessions) await s.stop();
    await sori?.stop();
  });

  it('answers only a caller with the token, and says what is wrong with a request', async () => {
    const anonymous = await fetch(`${base}/accounts/alice@${DOMAIN}`);
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('www-authenticate')).to.equal('Bearer');
    expect((await call('GET', `/accounts/alice@${DOMAIN}`, undefined, `${API_TOKEN}x`)).status).to.equal(401);
    const foreign = await call('PUT', '/accounts/alice@example.net', { password: 'pw' });
    expect([foreign.status, ((await foreign.json()) as { error: string }).error]).to.deep.equal([400, 'example.net is not served here (localhost)']);
    expect((await call('PUT', `/accounts/alice@${DOMAIN}%2Fphone`, { password: 'pw' })).status).to.equal(400);
    expect((await call('PUT', `/accounts/alice@${DOMAIN}/phone`, { password: 'pw' })).status).to.equal(404);
    expect((await call('GET', '/rooms')).status).to.equal(404);
    expect((await call('PATCH', `/accounts/alice@${DOMAIN}`, {})).status).to.equal(405);
    const notJson = await fetch(`${base}/accounts/alice@${DOMAIN}`, { method: 'PUT', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'text/plain' }, body: 'password=pw' });
    expect(notJson.status).to.equal(415);
    expect((await call('GET', `/accounts/nobody@${DOMAIN}`)).status).to.equal(404);
    // Relayed by a reverse proxy, a request comes from the proxy's (allowed) address: not served, whoever sent it.
    const relayed = await fetch(`${base}/accounts/alice@${DOMAIN}`, { headers: { authorization: `Bearer ${API_TOKEN}`, 'x-forwarded-for': '203.0.113.9' } });
    expect(relayed.status).to.equal(403);
  });

  it('creates an account that logs in, shows its sessions, changes its password', async () => {
    expect((await call('PUT', `/accounts/alice@${DOMAIN}`, { password: 'first-pw' })).status).to.equal(201);
    expect((await call('PUT', `/accounts/alice@${DOMAIN}`, { password: 'other' })).status).to.equal(409);
    const alice = await login('alice', 'first-pw');
    await alice.xmpp.send(xml('presence'));
    await new Promise((r) => setTimeout(r, 100));
    const shown = await call('GET', `/accounts/alice@${DOMAIN}`);
    expect(await shown.json()).to.deep.equal({ jid: `alice@${DOMAIN}`, resources: [{ jid: `alice@${DOMAIN}/phone`, available: true, priority: 0 }] });
    expect((await call('PUT', `/accounts/alice@${DOMAIN}/password`, { password: 'second-pw' })).status).to.equal(204);
    expect(await loginFails('alice', 'first-pw')).to.equal(true);
    await login('alice', 'second-pw');
  });

  it('sends a notice from the service to a user online, and to one offline who gets it on login', async () => {
    await call('PUT', `/accounts/bob@${DOMAIN}`, { password: 'bob-pw' });
    const bob = await login('bob', 'bob-pw');
    await bob.xmpp.send(xml('presence'));
    // A headline to a bare JID goes to available resources only (RFC 6121 §8.5.2.1.1): wait until bob is.
    await eventually(async () => expect(((await (await call('GET', `/accounts/bob@${DOMAIN}`)).json()) as { resources: { available: boolean }[] }).resources[0]?.available).to.equal(true));
    const sent = await call('POST', '/messages', { to: `bob@${DOMAIN}`, body: 'Your order has shipped', type: 'headline' });
    expect(sent.status).to.equal(202);
    const { id } = (await sent.json()) as { id: string };
    const got = await bob.waitFor((m) => m.is('message') && m.attrs.id === id, 5000, 'the notice');
    expect([got.attrs.from, got.attrs.type, got.getChildText('body')]).to.deep.equal([DOMAIN, 'headline', 'Your order has shipped']);

    await call('PUT', `/accounts/carol@${DOMAIN}`, { password: 'carol-pw' });
    expect((await call('POST', '/messages', { from: `support@${DOMAIN}`, to: `carol@${DOMAIN}`, body: 'Welcome!' })).status).to.equal(202);
    const carol = await login('carol', 'carol-pw');
    await carol.xmpp.send(xml('presence'));
    const welcome = await carol.waitFor((m) => m.is('message') && m.getChildText('body') === 'Welcome!', 5000, 'the message kept offline');
    expect(welcome.attrs.from).to.equal(`support@${DOMAIN}`);

    expect((await call('POST', '/messages', { from: 'support@example.net', to: `carol@${DOMAIN}`, body: 'spoofed' })).status).to.equal(400);
    expect((await call('POST', '/messages', { to: `carol@${DOMAIN}` })).status).to.equal(400);
  });

  it('creates a token-only account, which an app token logs in to', async () => {
    expect((await call('PUT', `/accounts/dave@${DOMAIN}`, {})).status).to.equal(201);
    const jwt = await new SignJWT({ sub: 'dave' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
    // Passwords are on here too, so @xmpp/client would pick SCRAM: PLAIN by hand, as a token client does.
    const raw = await RawClient.connect(at.port);
    await raw.startTls();
    raw.open();
    await raw.features();
    raw.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0dave\0${jwt}`).toString('base64')}</auth>`);
    expect((await raw.next((e) => e.name === 'success' || e.name === 'failure')).name).to.equal('success');
    raw.destroy();
    // It has no password to log in with.
    expect(await loginFails('dave', 'anything')).to.equal(true);
  });

  it('deletes an account: its session ends and it no longer logs in', async () => {
    await call('PUT', `/accounts/erin@${DOMAIN}`, { password: 'erin-pw' });
    const erin = await login('erin', 'erin-pw');
    const ended = new Promise<string>((resolve) => erin.xmpp.on('error', (e: { condition?: string }) => resolve(e.condition ?? String(e))));
    expect((await call('DELETE', `/accounts/erin@${DOMAIN}`)).status).to.equal(204);
    expect(await ended).to.equal('not-authorized');
    expect((await call('GET', `/accounts/erin@${DOMAIN}`)).status).to.equal(404);
    expect(await loginFails('erin', 'erin-pw')).to.equal(true);
    expect((await call('DELETE', `/accounts/erin@${DOMAIN}`)).status).to.equal(404);
  });

  it('is not served to addresses outside `allow`, and will not start without a long token', async () => {
    const elsewhere = await startWith({ allow: ['192.0.2.0/24'] });
    try {
      const res = await fetch(`http://127.0.0.1:${elsewhere.listening.ports.ws!}/api/accounts/alice@${DOMAIN}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(res.status).to.equal(403);
    } finally {
      await elsewhere.stop();
    }
    let error: unknown;
    await startWith({ token: 'short' }).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/32 characters/);
  });
});
