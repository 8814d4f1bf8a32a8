import type { Jid } from '../../util/jid.js';
import { Table, type TableSpec, type WideColumnStore } from '../../storage/wide-column.js';
import { deriveCredentials, verifyPassword, type StoredCredentials } from '../sasl/scram.js';
import type { AccountsApi } from '../module.js';

/** One partition per account, so logins spread over the key space instead of one hot domain partition. */
export const ACCOUNTS_TABLE: TableSpec = { name: 'accounts', readMostly: true, description: 'Accounts: pk = bare JID, sk = "credentials", value = salted SCRAM keys.' };
const SK = 'credentials';

interface AccountRecord {
  scram: StoredCredentials;
  created: number;
}

export class Accounts implements AccountsApi {
  private readonly table: Table;
  private readonly admins: Set<string>;

  constructor(store: WideColumnStore, admins: readonly string[]) {
    this.table = new Table(store, ACCOUNTS_TABLE.name);
    this.admins = new Set(admins.map((a) => a.toLowerCase()));
  }

  async credentials(jid: Jid): Promise<StoredCredentials | null> {
    const rec = await this.table.getJson<AccountRecord>(jid.bare, SK);
    return rec?.scram ?? null;
  }

  async exists(jid: Jid): Promise<boolean> {
    return (await this.table.get(jid.bare, SK)) !== undefined;
  }

  /** Creates the account; false when it already exists. */
  async create(jid: Jid, password: string): Promise<boolean> {
    if (password === '') throw new Error('empty password');
    const rec: AccountRecord = { scram: deriveCredentials(password), created: Date.now() };
    return this.table.putJson(jid.bare, SK, rec, { ifNotExists: true });
  }

  async setPassword(jid: Jid, password: string): Promise<void> {
    const current = await this.table.get(jid.bare, SK);
    if (current === undefined) throw new Error(`no account ${jid.bare}`);
    const rec = JSON.parse(current) as AccountRecord;
    rec.scram = deriveCredentials(password);
    await this.table.putJson(jid.bare, SK, rec);
  }

  async remove(jid: Jid): Promise<void> {
    await this.table.deletePartition(jid.bare);
  }

  async verifyPassword(jid: Jid, password: string): Promise<boolean> {
    const c = await this.credentials(jid);
    return c !== null && verifyPassword(c, password);
  }

  /** Every account of a domain. A table scan: admin tools only. */
  async list(domain: string): Promise<string[]> {
    const out: string[] = [];
    for await (const row of this.table.scan()) {
      if (row.sk === SK && row.pk.endsWith('@' + domain)) out.push(row.pk);
    }
    return out.sort();
  }

  isAdmin(jid: Jid): boolean {
    return this.admins.has(jid.bare);
  }
}
