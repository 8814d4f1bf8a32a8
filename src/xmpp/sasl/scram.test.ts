import { expect } from 'chai';
import { ScramClient, ScramServer, decoyCredential, deriveCredentials, verifyPassword, type StoredCredentials } from './scram.js';
import { SaslFailure, type SaslContext } from './mechanism.js';
import { PlainServer } from './plain.js';

const DECOY_KEY = Buffer.alloc(32, 7);

function ctx(users: Record<string, StoredCredentials>, cb: Buffer | null = null, decoyKey = DECOY_KEY): SaslContext {
  return {
    credentials: async (u) => users[u] ?? null,
    decoyKey: () => decoyKey,
    accountName: (username) => username.toLowerCase(),
    tokenAllows: async () => false,
    channelBindingTypes: () => (cb ? ['tls-exporter'] : []),
    channelBinding: (t) => (t === 'tls-exporter' ? cb : null),
    authzidMatches: (z, u) => z === `${u}@localhost`,
  };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SaslFailure) return e.condition;
    throw e;
  }
  return 'success';
}

describe('SCRAM', () => {
  const users = { alice: deriveCredentials('pencil', 4096) };

  for (const hash of ['SHA-1', 'SHA-256'] as const) {
    it(`${hash}: authenticates with the right password and proves the server knows the key`, async () => {
      const server = new ScramServer(hash, false, ctx(users));
      const client = new ScramClient(hash, 'alice', 'pencil');
      const challenge = await server.step(Buffer.from(client.first()));
      expect(challenge.type).to.equal('challenge');
      const done = await server.step(Buffer.from(client.final((challenge as { data: Buffer }).data.toString())));
      expect(done.type).to.equal('success');
      expect(client.verify((done as { data: Buffer }).data.toString())).to.equal(true);
    });

    it(`${hash}: refuses a wrong password and an unknown user alike`, async () => {
      for (const [u, p] of [['alice', 'wrong'], ['mallory', 'pencil']]) {
        const server = new ScramServer(hash, false, ctx(users));
        const client = new ScramClient(hash, u!, p!);
        const ch = await server.step(Buffer.from(client.first()));
        expect(ch.type).to.equal('challenge');
        expect(await failure(server.step(Buffer.from(client.final((ch as { data: Buffer }).data.toString()))))).to.equal('not-authorized');
      }
    });
  }

  it('answers an unknown user with a decoy salt that only the name and the server key decide', async () => {
    const salt = async (user: string, key = DECOY_KEY, hash: 'SHA-1' | 'SHA-256' = 'SHA-256'): Promise<string> => {
      const server = new ScramServer(hash, false, ctx(users, null, key));
      const ch = await server.step(Buffer.from(`n,,n=${user},r=abc`));
      const s = /,s=([^,]+),i=4096$/.exec((ch as { data: Buffer }).data.toString());
      expect(s, 'a server-first-message with the real accounts\' iteration count').to.not.equal(null);
      return s![1]!;
    };
    // Asked again, it is the same, as a real account's is; and it is the one decoyCredential gives.
    expect(await salt('mallory')).to.equal(await salt('mallory')).and.to.equal(decoyCredential(DECOY_KEY, 'SHA-256', 'mallory').salt);
    expect(await salt('mallory')).to.not.equal(await salt('trudy'));
    // The name as the account would be named: typed in another case, an existing account answers with its one salt, so must a decoy.
    expect(await salt('Mallory')).to.equal(await salt('mallory'));
    expect(await salt('mallory', DECOY_KEY, 'SHA-1'), 'a salt per hash, as accounts have').to.not.equal(await salt('mallory'));
    // Another server (another key) gives another salt: without the key the name says nothing of it.
    expect(await salt('mallory', Buffer.alloc(32, 8))).to.not.equal(await salt('mallory'));
    expect(Buffer.from(await salt('mallory'), 'base64')).to.have.length(16);
  });

  it('matches the RFC 7677 SCRAM-SHA-256 test vector', async () => {
    // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    const { deriveCredential } = await import('./scram.js');
    const cred = deriveCredential('SHA-256', 'pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    const { createHmac } = await import('node:crypto');
    const authMessage = 'n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const v = createHmac('sha256', Buffer.from(cred.serverKey, 'base64')).update(authMessage).digest('base64');
    expect(v).to.equal('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('binds to the TLS channel with -PLUS and refuses a mismatched binding', async () => {
    const cb = Buffer.from('exporter-bytes');
    const ok = new ScramServer('SHA-256', true, ctx(users, cb));
    const client = new ScramClient('SHA-256', 'alice', 'pencil', { type: 'tls-exporter', data: cb });
    const ch = await ok.step(Buffer.from(client.first()));
    expect((await ok.step(Buffer.from(client.final((ch as { data: Buffer }).data.toString())))).type).to.equal('success');

    // Refused as a wrong password and an unknown user are, with nothing else said: a distinct answer
    // to a deliberately wrong binding would tell which accounts exist.
    const answers: string[] = [];
    for (const user of ['alice', 'mallory']) {
      const mitm = new ScramServer('SHA-256', true, ctx(users, Buffer.from('other-channel')));
      const c2 = new ScramClient('SHA-256', user, 'pencil', { type: 'tls-exporter', data: cb });
      const ch2 = await mitm.step(Buffer.from(c2.first()));
      try {
        await mitm.step(Buffer.from(c2.final((ch2 as { data: Buffer }).data.toString())));
      } catch (e) {
        answers.push(`${(e as SaslFailure).condition}: ${(e as SaslFailure).text ?? ''}`);
      }
    }
    expect(answers).to.deep.equal(['not-authorized: ', 'not-authorized: ']);
  });

  it('goes on without binding when a client picks -PLUS but says it cannot bind ("n"), as stanza does', async () => {
    const server = new ScramServer('SHA-256', true, ctx(users, Buffer.from('exporter-bytes')));
    const client = new ScramClient('SHA-256', 'alice', 'pencil');
    const first = client.first();
    expect(first.startsWith('n,,')).to.equal(true);
    const ch = await server.step(Buffer.from(first));
    const done = await server.step(Buffer.from(client.final((ch as { data: Buffer }).data.toString())));
    expect(done.type).to.equal('success');
  });

  it('detects a downgrade: client says it supports binding ("y") while tls-unique was available', async () => {
    const tls12: SaslContext = { ...ctx(users), channelBindingTypes: () => ['tls-unique', 'tls-server-end-point'] };
    const server = new ScramServer('SHA-256', false, tls12);
    expect(await failure(server.step(Buffer.from('y,,n=alice,r=abc')))).to.equal('not-authorized');
  });

  it('accepts "y" on TLS 1.3, where clients that only know tls-unique cannot bind', async () => {
    const server = new ScramServer('SHA-256', false, ctx(users, Buffer.from('x')));
    const step = await server.step(Buffer.from('y,,n=alice,r=abc'));
    expect(step.type).to.equal('challenge');
  });

  it('rejects malformed messages', async () => {
    for (const msg of ['garbage', 'n,,r=abc', 'n,,n=al=ice,r=x', 'x,,n=a,r=b']) {
      const server = new ScramServer('SHA-1', false, ctx(users));
      expect(await failure(server.step(Buffer.from(msg))), msg).to.equal('malformed-request');
    }
  });

  it('PLAIN verifies against the stored keys, never a stored password', async () => {
    expect(JSON.stringify(users.alice)).to.not.include('pencil');
    expect(verifyPassword(users.alice, 'pencil')).to.equal(true);
    const plain = new PlainServer(ctx(users));
    expect((await plain.step(Buffer.from('\0alice\0pencil'))).type).to.equal('success');
    expect(await failure(new PlainServer(ctx(users)).step(Buffer.from('\0alice\0nope')))).to.equal('not-authorized');
    expect(await failure(new PlainServer(ctx(users)).step(Buffer.from('bob@localhost\0alice\0pencil')))).to.equal('invalid-authzid');
  });
});
