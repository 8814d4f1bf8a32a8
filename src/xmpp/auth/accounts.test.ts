import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { MemoryStore } from '../../storage/memory/index.js';
import type { PutOptions, RangeOptions, Row } from '../../storage/wide-column.js';
import { parseJid } from '../../util/jid.js';
import { Accounts, ACCOUNTS_TABLE } from './accounts.js';

/** The memory store answering each read and write after a few milliseconds, in no set order, as a networked store may. */
class LaggingStore extends MemoryStore {
  private lag(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
  }
  override async put(table: string, pk: string, sk: string, value: string, options?: PutOptions): Promise<boolean> {
    await this.lag();
    return super.put(table, pk, sk, value, options);
  }
  override async delete(table: string, pk: string, sk: string): Promise<void> {
    await this.lag();
    return super.delete(table, pk, sk);
  }
  override async range(table: string, pk: string, options?: RangeOptions): Promise<Row[]> {
    await this.lag();
    return super.range(table, pk, options);
  }
}

describe('Accounts', function () {
  it('keeps the newest FAST tokens up to the cap, neither more nor fewer, when logins of many installations get one at the same moment', async function () {
    const store = new LaggingStore();
    await store.ensureTables([ACCOUNTS_TABLE]);
    const accounts = new Accounts(store, []);
    const jid = parseJid('alice@localhost');
    const cap = 4;
    const day = 24 * 3600_000;
    // Installations holding two tokens each: trimming one slot rewrites their row, which a stale trim can bring back.
    for (let i = 0; i < cap / 2; i++) {
      const slot = (n: number) => ({ token: `old${i}-${n}`, mechanism: 'HT-SHA-256-NONE', expiresAt: Date.now() + (2 * i + n + 1) * day });
      await store.put(ACCOUNTS_TABLE.name, jid.bare, `fast:${randomUUID()}`, JSON.stringify({ current: slot(0), issued: slot(1) }));
    }
    const issued = await Promise.all(
      Array.from({ length: 3 * cap }, async (_, i) => {
        const ua = randomUUID();
        // Later logins get longer lifetimes, so which tokens are newest does not depend on the order the issues ran in.
        return { ua, ...(await accounts.issueFastToken(jid, ua, 'HT-SHA-256-NONE', 14 * day + i * 1000, cap)) };
      }),
    );
    const now = Date.now();
    const held = (await store.range(ACCOUNTS_TABLE.name, jid.bare, { start: 'fast:', end: 'fast;' }))
      .map((row) => JSON.parse(row.value) as { current?: { expiresAt: number }; issued?: { expiresAt: number } })
      .reduce((n, rec) => n + [rec.current, rec.issued].filter((t) => t !== undefined && t.expiresAt > now).length, 0);
    // Exactly the cap: trims working from stale views also removed tokens just handed to clients, leaving fewer.
    expect(held, 'unexpired tokens held').to.equal(cap);
    expect(await Promise.all(issued.slice(-cap).map((t) => store.get(ACCOUNTS_TABLE.name, jid.bare, `fast:${t.ua}`))), 'the newest tokens').to.not.include(undefined);
  });

  it('does not bring back an account removed while its password was being changed', async function () {
    const store = new MemoryStore();
    await store.ensureTables([ACCOUNTS_TABLE]);
    const accounts = new Accounts(store, []);
    const jid = parseJid('alice@localhost');
    await accounts.create(jid, 'old');
    const changing = accounts.setPassword(jid, 'new').catch((e: unknown) => e);
    await accounts.remove(jid);
    await changing;
    expect(await accounts.exists(jid)).to.equal(false);
  });

  it('still accepts the FAST tokens of a record written before the token slots (the new one and the one it replaced)', async function () {
    const store = new MemoryStore();
    await store.ensureTables([ACCOUNTS_TABLE]);
    const accounts = new Accounts(store, []);
    const jid = parseJid('alice@localhost');
    const record = { mechanism: 'HT-SHA-256-NONE', token: 'newer', expiresAt: Date.now() + 60_000, previous: 'older' };
    await store.put(ACCOUNTS_TABLE.name, jid.bare, 'fast:ua', JSON.stringify(record));
    const proves = (secret: string) => (token: Buffer) => token.toString('utf8') === secret;
    expect(await accounts.checkFastToken(jid, 'ua', 'HT-SHA-256-NONE', proves('older')), 'the replaced one').to.equal(record.expiresAt);
    expect(await accounts.checkFastToken(jid, 'ua', 'HT-SHA-256-NONE', proves('newer')), 'the new one').to.equal(record.expiresAt);
    expect(await accounts.checkFastToken(jid, 'ua', 'HT-SHA-256-NONE', proves('older')), 'the replaced one, once the new one was used').to.equal(null);
  });
});
