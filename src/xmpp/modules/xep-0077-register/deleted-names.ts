import type { Jid } from '../../../util/jid.js';
import type { Table } from '../../../storage/wide-column.js';

const SK = 'deleted';
const DAY_MS = 86_400_000;

/**
 * Usernames of deleted accounts, kept out of self-registration. Deleting an
 * account cancels its subscriptions, but other people's data still names the
 * address: MUC and PEP affiliations, blocklists, rosters on other servers. A
 * stranger who registers the name must not inherit those. An administrator
 * can still create the account on purpose.
 */
export class DeletedNames {
  constructor(
    private readonly table: Table,
    /** 0: held for ever. */
    private readonly reusableAfterDays: number,
    private readonly now: () => number = Date.now,
  ) {}

  async hold(jid: Jid): Promise<void> {
    await this.table.putJson(jid.bare, SK, { ms: this.now() });
  }

  async held(jid: Jid): Promise<boolean> {
    const rec = await this.table.getJson<{ ms: number }>(jid.bare, SK);
    if (rec === undefined) return false;
    return this.reusableAfterDays === 0 || this.now() - rec.ms < this.reusableAfterDays * DAY_MS;
  }
}
