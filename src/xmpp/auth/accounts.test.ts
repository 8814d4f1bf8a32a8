import { expect } from 'chai';
import { MemoryStore } from '../../storage/memory/index.js';
import { parseJid } from '../../util/jid.js';
import { Accounts, ACCOUNTS_TABLE } from './accounts.js';

describe('Accounts', function () {
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
