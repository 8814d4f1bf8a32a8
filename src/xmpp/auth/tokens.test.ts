import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { TestServer } from '../../testing/harness.js';
import { parseJid } from '../../util/jid.js';
import { TokenVerifier, type TokenSettings } from './tokens.js';

const SECRET = 'a shared secret of at least thirty-two bytes';
const alice = parseJid('alice@example.org');
const now = () => Math.floor(Date.now() / 1000);

/** A token as an application backend would sign it; `claims` replace the defaults (sub alice, exp in an hour). */
function token(key: KeyObject | Uint8Array, alg: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const body = { sub: 'alice', exp: now() + 3600, ...claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k as keyof typeof body];
  return new SignJWT(body).setProtectedHeader({ alg, ...header }).sign(key);
}

const hmac = new TextEncoder().encode(SECRET);
const verifier = async (settings: Partial<TokenSettings>): Promise<TokenVerifier> => (await TokenVerifier.create({ claim: 'sub', domain: 'example.org', ...settings }))!;

describe('login tokens (JWT)', () => {
  it('is off without a key', async () => {
    expect(await TokenVerifier.create({ claim: 'sub' })).to.equal(null);
  });

  it('accepts a token for the account, by local part or bare JID, and nothing else', async () => {
    const v = await verifier({ secret: SECRET });
    expect(await v.allows(await token(hmac, 'HS256'), alice)).to.equal(true);
    expect(await v.allows(await token(hmac, 'HS512', { sub: 'Alice@Example.org' }), alice)).to.equal(true);
    expect(await v.allows(await token(hmac, 'HS256', { sub: 'bob' }), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { sub: 'alice@example.net' }), alice)).to.equal(false);
    expect(await v.allows('the-password-of-alice', alice)).to.equal(false);
  });

  it('refuses a token signed with another key, expired, not yet valid, or without an expiry', async () => {
    const v = await verifier({ secret: SECRET });
    expect(await v.allows(await token(new TextEncoder().encode(SECRET + '!'), 'HS256'), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { exp: now() - 120 }), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { nbf: now() + 600 }), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { exp: undefined }), alice)).to.equal(false);
  });

  it('takes a claim that is only a local part on its configured domain alone, never on another hosted one', async () => {
    const t = await token(hmac, 'HS256');
    expect(await (await verifier({ secret: SECRET })).allows(t, parseJid('alice@other-tenant.example'))).to.equal(false);
    // No domain configured (several hosts, no auth.jwtDomain): only a full JID logs in.
    const strict = await verifier({ secret: SECRET, domain: undefined });
    expect(await strict.allows(t, alice)).to.equal(false);
    expect(await strict.allows(await token(hmac, 'HS256', { sub: 'alice@example.org' }), alice)).to.equal(true);
  });

  it('the server gives a local-part claim the domain it hosts, with several hosts only auth.jwtDomain', async () => {
    const t = await token(hmac, 'HS256');
    const on = async (hosts: string[], jwtDomain?: string): Promise<boolean[]> => {
      const ts = await TestServer.start([], { server: { hosts }, auth: { jwtSecret: SECRET, jwtDomain } });
      try {
        return await Promise.all(hosts.map((h) => ts.server.tokens!.allows(t, parseJid(`alice@${h}`))));
      } finally {
        await ts.stop();
      }
    };
    expect(await on(['example.org'])).to.deep.equal([true]);
    expect(await on(['example.org', 'other-tenant.example'])).to.deep.equal([false, false]);
    expect(await on(['example.org', 'other-tenant.example'], 'Example.org')).to.deep.equal([true, false]);
    let error: unknown;
    await on(['example.org'], 'elsewhere.example').catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/jwtDomain/);
  });

  it('takes an iat in the future (RFC 7519 §4.1.6: the age, not a validity condition) but not one that is no number', async () => {
    const v = await verifier({ secret: SECRET });
    expect(await v.allows(await token(hmac, 'HS256', { iat: now() + 86400 }), alice)).to.equal(true);
    expect(await v.allows(await token(hmac, 'HS256', { iat: 'yesterday' }), alice)).to.equal(false);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const v = await verifier({ secret: SECRET });
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: 'alice', exp: now() + 3600 })}.`;
    expect(await v.allows(unsigned, alice)).to.equal(false);
    expect(await v.allows(`${unsigned}c2ln`, alice)).to.equal(false);
  });

  it('checks iss and aud when configured, and the configured claim', async () => {
    const v = await verifier({ secret: SECRET, issuer: 'https://app.example.org', audience: 'xmpp', claim: 'jid' });
    const good = { iss: 'https://app.example.org', aud: 'xmpp', jid: 'alice@example.org', sub: 'user-1234' };
    expect(await v.allows(await token(hmac, 'HS256', good), alice)).to.equal(true);
    expect(await v.allows(await token(hmac, 'HS256', { ...good, iss: 'https://evil.example' }), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { ...good, aud: 'another-service' }), alice)).to.equal(false);
    expect(await v.allows(await token(hmac, 'HS256', { ...good, jid: undefined, sub: 'alice' }), alice)).to.equal(false);
  });

  it('verifies with a public key file (ES256), and will not take the public key as an HMAC secret', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const file = join(mkdtempSync(join(tmpdir(), 'sori-jwt-')), 'key.pem');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    writeFileSync(file, pem);
    const v = await verifier({ publicKeyFile: file });
    expect(await v.allows(await token(privateKey, 'ES256'), alice)).to.equal(true);
    // The classic algorithm confusion: HS256 "signed" with the public key's bytes.
    expect(await v.allows(await token(new TextEncoder().encode(pem), 'HS256'), alice)).to.equal(false);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(await v.allows(await token(other, 'ES256'), alice)).to.equal(false);
  });

  describe("an identity provider's JWKS URL", () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let http: HttpServer;
    let url: string;
    let fetches = 0;
    before(async () => {
      const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
      http = createServer((_req, res) => {
        fetches++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
      url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    after(() => http?.close());

    it('verifies tokens with the key their kid names, fetching the set once', async () => {
      const v = await verifier({ jwksUrl: url });
      expect(await v.allows(await token(privateKey, 'RS256', {}, { kid: 'key-1' }), alice)).to.equal(true);
      expect(await v.allows(await token(privateKey, 'RS256', { sub: 'bob' }, { kid: 'key-1' }), alice)).to.equal(false);
      expect(await v.allows(await token(privateKey, 'RS256', {}, { kid: 'key-unknown' }), alice)).to.equal(false);
      expect(fetches).to.be.at.least(1).and.at.most(2);
    });

    it('throws (a temporary failure, not wrong credentials) when the provider cannot be reached', async () => {
      const closed = createServer();
      await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((ok) => closed.close(() => ok()));
      const v = await verifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
      let thrown: unknown;
      try {
        await v.allows(await token(privateKey, 'RS256', {}, { kid: 'key-1' }), alice);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, 'an unreachable provider is not a wrong token').to.be.instanceOf(Error);
    });
  });

  it('refuses settings that cannot be right: a short secret, or two key sources', async () => {
    let error: unknown;
    await TokenVerifier.create({ claim: 'sub', secret: 'short' }).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/32 bytes/);
    error = undefined;
    await TokenVerifier.create({ claim: 'sub', secret: SECRET, jwksUrl: 'https://idp.example/jwks' }).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/one of/);
  });
});
