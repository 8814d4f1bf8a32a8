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
});
