import { expect } from 'chai';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { MemoryStore } from '../../storage/memory/index.js';
import { ACCOUNTS_TABLE } from '../auth/accounts.js';
import type { RawClient } from '../../testing/raw-client.js';
import { testSoriForDescribe } from '../../testing/test-sori.js';
import type { XmlElement } from '../../util/xml.js';

const NS_FAST = 'urn:xmpp:fast:0';
const REQUEST_TOKEN = `<request-token xmlns='${NS_FAST}' mechanism='HT-SHA-256-NONE'/>`;
const tokenOf = (success: XmlElement): string => success.getChild('token', NS_FAST)!.attrs.token!;
const SASL2 = 'urn:xmpp:sasl:2';
/** Small, so that a few logins reach it. */
const CAP = 4;

/** A FAST login with an HT-SHA-256 mechanism whose channel-binding data is `cbData` (empty for -NONE); resolves with success or failure. */
async function fastLogin(c: RawClient, mechanism: string, user: string, token: string, userAgentId: string, cbData: Buffer): Promise<XmlElement> {
  const proof = createHmac('sha256', token).update(Buffer.concat([Buffer.from('Initiator'), cbData])).digest();
  const initial = Buffer.concat([Buffer.from(`${user}\u0000`), proof]).toString('base64');
  c.write(`<authenticate xmlns='${SASL2}' mechanism='${mechanism}'><initial-response>${initial}</initial-response><user-agent id='${userAgentId}'/><fast xmlns='${NS_FAST}'/></authenticate>`);
  const end = await c.next((e) => e.name === 'success' || e.name === 'failure');
  const responder = createHmac('sha256', token).update(Buffer.concat([Buffer.from('Responder'), cbData])).digest('base64');
  if (end.name === 'success' && end.getChildText('additional-data') !== responder) throw new Error(`the server did not prove it knows the token: ${end.toString()}`);
  return end;
}

describe('XEP-0484 FAST tokens (real sockets)', function () {
  this.timeout(20000);
  const store = new MemoryStore();
  // Several tests fail logins on purpose (old, unbound, expired tokens): the throttle must not turn away the ones after.
  const t = testSoriForDescribe({ c2s: { sasl2: true, fastTokensPerAccount: CAP, maxLoginFailures: 100 } }, { store, accounts: ['carol', 'dave', 'frank', 'grace', 'heidi', 'ivan'] });
  const preAuthWithFeatures = t.preAuth;

  /** A TLS stream opened up to the pre-authentication features. */
  async function preAuth(): Promise<RawClient> {
    return (await t.preAuth()).c;
  }

  /** The account's FAST token rows, as stored. */
  async function tokenRows(account: string): Promise<{ sk: string; current?: { expiresAt: number }; issued?: { expiresAt: number } }[]> {
    const rows = await store.range(ACCOUNTS_TABLE.name, account, { start: 'fast:', end: 'fast;' });
    return rows.map((row) => ({ sk: row.sk, ...(JSON.parse(row.value) as { current?: { expiresAt: number }; issued?: { expiresAt: number } }) }));
  }

  /** The unexpired tokens the account holds over all its installations. */
  async function liveTokens(account: string): Promise<number> {
    const now = Date.now();
    return (await tokenRows(account)).reduce((n, row) => n + [row.current, row.issued].filter((t) => t !== undefined && t.expiresAt > now).length, 0);
  }

  it('keeps at most c2s.fastTokensPerAccount tokens when a client names a new user-agent id at every login, the oldest ending first', async () => {
    const installations = Array.from({ length: CAP + 3 }, () => randomUUID());
    const tokens: string[] = [];
    for (const ua of installations) {
      tokens.push(tokenOf(await (await preAuth()).scram2('heidi', 'secret', REQUEST_TOKEN, ua)));
      expect(await liveTokens('heidi@localhost'), 'tokens held').to.be.at.most(CAP);
    }
    for (const i of [0, 1, 2]) expect((await (await preAuth()).fast('heidi', tokens[i]!, installations[i]!)).name, `token ${i}, among the oldest`).to.equal('failure');
    for (let i = 3; i < installations.length; i++) expect((await (await preAuth()).fast('heidi', tokens[i]!, installations[i]!)).name, `token ${i}, among the newest`).to.equal('success');
  });

  it('removes the expired tokens it finds and does not count them, while one installation asks for a token at every login and another\'s keeps working', async () => {
    const expired = { current: { token: 'gone', mechanism: 'HT-SHA-256-NONE', expiresAt: Date.now() - 1000 } };
    const stale = Array.from({ length: CAP }, () => randomUUID());
    for (const ua of stale) await store.put(ACCOUNTS_TABLE.name, 'ivan@localhost', `fast:${ua}`, JSON.stringify(expired));
    const other = randomUUID();
    const kept = tokenOf(await (await preAuth()).scram2('ivan', 'secret', REQUEST_TOKEN, other));
    const looping = randomUUID();
    let token = tokenOf(await (await preAuth()).scram2('ivan', 'secret', REQUEST_TOKEN, looping));
    for (let login = 0; login < 2 * CAP; login++) {
      const success = await (await preAuth()).fast('ivan', token, looping, REQUEST_TOKEN);
      expect(success.name, success.toString()).to.equal('success');
      token = tokenOf(success);
    }
    expect((await tokenRows('ivan@localhost')).map((row) => row.sk), 'rows left').to.have.members([`fast:${other}`, `fast:${looping}`]);
    expect(await liveTokens('ivan@localhost')).to.be.at.most(3);
    expect((await (await preAuth()).fast('ivan', kept, other)).name, 'the other installation\'s token').to.equal('success');
    expect((await (await preAuth()).fast('ivan', token, looping)).name, 'the newest token of the looping one').to.equal('success');

    const lapsed = randomUUID();
    await store.put(ACCOUNTS_TABLE.name, 'ivan@localhost', `fast:${lapsed}`, JSON.stringify(expired));
    expect((await (await preAuth()).fast('ivan', 'gone', lapsed)).name, 'an expired token').to.equal('failure');
    expect((await tokenRows('ivan@localhost')).map((row) => row.sk), 'the expired row, once found').to.not.include(`fast:${lapsed}`);
  });

  it('keeps the token in use valid while the new ones it asked for never arrive (§3.5: not invalidated until the new one is used)', async () => {
    const ua = 'b9a0c8f4-6a3e-4b8e-9d35-0f0e1c2a7d11';
    const first = tokenOf(await (await preAuth()).scram2('carol', 'secret', REQUEST_TOKEN, ua));
    // Two FAST logins in a row ask for a new token, and the connection drops before either <success/> arrives:
    // the client still holds only the first token.
    for (const attempt of [1, 2]) {
      const lost = await (await preAuth()).fast('carol', first, ua, REQUEST_TOKEN);
      expect(lost.name, `login ${attempt}: ${lost.toString()}`).to.equal('success');
    }
    const again = await (await preAuth()).fast('carol', first, ua);
    expect(again.name, again.toString()).to.equal('success');
  });

  it('ends a token that was issued but never used once a newer one is issued (§3.5 SHOULD)', async () => {
    const ua = '0d7f5a52-3c8e-4e61-a1f4-52b8b0f2c9e3';
    const unused = tokenOf(await (await preAuth()).scram2('dave', 'secret', REQUEST_TOKEN, ua));
    const newer = tokenOf(await (await preAuth()).scram2('dave', 'secret', REQUEST_TOKEN, ua));
    expect((await (await preAuth()).fast('dave', unused, ua)).name, 'the unused older token').to.equal('failure');
    expect((await (await preAuth()).fast('dave', newer, ua)).name, 'the newer token').to.equal('success');
  });

  it('offers channel-bound token mechanisms beside -NONE (§3.1), and a token issued for one works only with it, on its own channel', async () => {
    const ua = '5f3c1e0a-9b7d-4c2e-8a61-3d4b5e6f7a80';
    const { c, features } = await preAuthWithFeatures();
    const offered = features.getChild('authentication', SASL2)!.getChild('inline')!.getChild('fast', NS_FAST)!.getChildren('mechanism').map((m) => m.getText());
    expect(offered).to.include.members(['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE']);
    const token = tokenOf(await c.scram2('frank', 'secret', `<request-token xmlns='${NS_FAST}' mechanism='HT-SHA-256-EXPR'/>`, ua));
    const exporter = (client: RawClient): Buffer => client.tlsSocket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));

    const other = await preAuth();
    // A proof made for another TLS channel (one an attacker in the middle would relay) is refused.
    expect((await fastLogin(other, 'HT-SHA-256-EXPR', 'frank', token, ua, exporter(c))).name, 'another channel').to.equal('failure');
    // §3.4: a token is bound to the mechanism it was issued for, the unbound one included.
    expect((await fastLogin(await preAuth(), 'HT-SHA-256-NONE', 'frank', token, ua, Buffer.alloc(0))).name, 'without channel binding').to.equal('failure');
    const own = await preAuth();
    expect((await fastLogin(own, 'HT-SHA-256-EXPR', 'frank', token, ua, exporter(own))).name, 'its own channel').to.equal('success');

    // tls-server-end-point (RFC 5929 §4): the hash of the server's certificate.
    const endpointToken = tokenOf(await (await preAuth()).scram2('frank', 'secret', `<request-token xmlns='${NS_FAST}' mechanism='HT-SHA-256-ENDP'/>`, ua));
    const endpoint = await preAuth();
    const certificateHash = createHash('sha256').update(endpoint.tlsSocket.getPeerCertificate().raw).digest();
    expect((await fastLogin(endpoint, 'HT-SHA-256-ENDP', 'frank', endpointToken, ua, certificateHash)).name, 'tls-server-end-point').to.equal('success');
  });

  it('lets the login through without a token when the token cannot be stored (the client goes on with its password)', async () => {
    const accounts = t.sori.server.accounts;
    const issue = accounts.issueFastToken;
    accounts.issueFastToken = () => Promise.reject(new Error('the store refused the row'));
    try {
      const c = await preAuth();
      const success = await c.scram2('frank', 'secret', `<bind xmlns='urn:xmpp:bind:0'/>${REQUEST_TOKEN}`, '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f');
      expect(success.name, success.toString()).to.equal('success');
      expect(success.getChild('token', NS_FAST)).to.equal(undefined);
      c.write(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`);
      expect((await c.next((e) => e.attrs.id === 'r1')).attrs.type).to.equal('result');
    } finally {
      accounts.issueFastToken = issue;
    }
  });

  it('gives a new token, unasked, at a login with a token close to its expiry (§3.5), but not when the token is being invalidated', async () => {
    const ua = '2b4d6f80-1a3c-4e5f-9a7b-c9d1e3f5a7b9';
    const token = tokenOf(await (await preAuth()).scram2('grace', 'secret', REQUEST_TOKEN, ua));
    // The token has a day left of the configured 14: a client that relies on the server to rotate would lose it tomorrow.
    const soon = { current: { token, mechanism: 'HT-SHA-256-NONE', expiresAt: Date.now() + 86_400_000 } };
    await store.put(ACCOUNTS_TABLE.name, 'grace@localhost', `fast:${ua}`, JSON.stringify(soon));
    const rotated = await (await preAuth()).fast('grace', token, ua);
    expect(rotated.name, rotated.toString()).to.equal('success');
    const fresh = rotated.getChild('token', NS_FAST);
    expect(Date.parse(fresh?.attrs.expiry ?? ''), rotated.toString()).to.be.above(Date.now() + 13 * 86_400_000);
    expect((await (await preAuth()).fast('grace', fresh!.attrs.token!, ua)).name, 'the new token').to.equal('success');

    await store.put(ACCOUNTS_TABLE.name, 'grace@localhost', `fast:${ua}`, JSON.stringify(soon));
    const c = await preAuth();
    const proof = createHmac('sha256', token).update('Initiator').digest();
    c.write(`<authenticate xmlns='${SASL2}' mechanism='HT-SHA-256-NONE'><initial-response>${Buffer.concat([Buffer.from('grace\u0000'), proof]).toString('base64')}</initial-response><user-agent id='${ua}'/><fast xmlns='${NS_FAST}' invalidate='true'/></authenticate>`);
    const invalidated = await c.next((e) => e.name === 'success' || e.name === 'failure');
    expect(invalidated.name).to.equal('success');
    expect(invalidated.getChild('token', NS_FAST), 'no token after invalidate (§3.6)').to.equal(undefined);
  });
});
