import { expect } from 'chai';
import type { Sori } from '../../sori.js';
import { MemoryStore } from '../../storage/memory/index.js';
import { RawClient } from '../../testing/raw-client.js';
import { startTestSori } from '../../testing/test-sori.js';
import { parseJid } from '../../util/jid.js';
import { ServerSecret, SERVER_SECRETS_TABLE } from './server-secret.js';

describe('the server secret, shared by every node through the store', function () {
  this.timeout(20000);
  const running: Sori[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
  });

  async function node(store: MemoryStore): Promise<Sori> {
    const sori = await startTestSori({}, { store });
    running.push(sori);
    return sori;
  }

  /** The salt a node's server-first-message gives `user` (the client goes no further). */
  async function saltFrom(sori: Sori, user: string): Promise<string> {
    const c = await RawClient.connect(sori.listening.ports.c2s!);
    try {
      await c.startTls();
      c.open();
      await c.features();
      c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>${Buffer.from(`n,,n=${user},r=abcdef`).toString('base64')}</auth>`);
      const ch = await c.next((e) => e.name === 'challenge' || e.name === 'failure');
      const salt = /,s=([^,]+),/.exec(Buffer.from(ch.getText(), 'base64').toString())?.[1];
      if (salt === undefined) throw new Error(`no salt in ${ch.toString()}`);
      return salt;
    } finally {
      c.destroy();
    }
  }

  it('gives an unknown user the same SCRAM salt on every node and after a restart, as a real account has', async () => {
    const store = new MemoryStore();
    // Started together: they agree on whichever secret was stored first.
    const [a, b] = await Promise.all([node(store), node(store)]);
    await a.server.createAccount(parseJid('alice@localhost'), 'secret');
    const mallory = await saltFrom(a, 'mallory');
    expect(await saltFrom(b, 'mallory'), 'through another node').to.equal(mallory);
    expect(await saltFrom(b, 'alice'), 'a real account, for comparison').to.equal(await saltFrom(a, 'alice'));
    expect(await saltFrom(a, 'trudy'), 'another name').to.not.equal(mallory);

    await a.stop();
    await b.stop();
    running.splice(0);
    expect(await saltFrom(await node(store), 'mallory'), 'after a restart').to.equal(mallory);

    // Another server's secret gives another salt: the name alone does not decide it, so it does not reveal it.
    const other = await saltFrom(await node(new MemoryStore()), 'mallory');
    expect(other).to.not.equal(mallory);
    expect(Buffer.from(mallory, 'base64').toString('latin1')).to.not.include('mallory');
  });

  it('derives a separate key per purpose, the same from every load of one store', async () => {
    const store = new MemoryStore();
    await store.ensureTables([SERVER_SECRETS_TABLE]);
    const [one, two] = await Promise.all([ServerSecret.load(store), ServerSecret.load(store)]);
    expect(one.key('scram-decoy localhost')).to.deep.equal(two.key('scram-decoy localhost'));
    expect(one.key('scram-decoy localhost')).to.not.deep.equal(one.key('scram-decoy example.org'));
    const elsewhere = new MemoryStore();
    await elsewhere.ensureTables([SERVER_SECRETS_TABLE]);
    expect((await ServerSecret.load(elsewhere)).key('scram-decoy localhost')).to.not.deep.equal(one.key('scram-decoy localhost'));
  });
});
