import { randomBytes } from 'node:crypto';
import type { Jid } from '../../util/jid.js';
import { KeyLocks } from '../../util/key-locks.js';
import { prefixRange, Table, type TableSpec, type WideColumnStore } from '../../storage/wide-column.js';
import { deriveCredentials, verifyPassword, type StoredCredentials } from '../sasl/scram.js';
import type { AccountsApi } from '../module.js';

/** One partition per account, so logins spread over the key space instead of one hot domain partition. */
export const ACCOUNTS_TABLE: TableSpec = { name: 'accounts', readMostly: true, description: 'Accounts: pk = bare JID, sk = "credentials" (salted SCRAM keys) or "fast:" + XEP-0388 user-agent id (that installation\'s XEP-0484 FAST token).' };
const SK = 'credentials';
const FAST_PREFIX = 'fast:';

interface AccountRecord {
  /** Null for an account that logs in with tokens only (created by its first token login). */
  scram: StoredCredentials | null;
  created: number;
}

interface FastToken {
  token: string;
  mechanism: string;
  expiresAt: number;
}

/**
 * The XEP-0484 FAST tokens of one installation (user-agent id), in the two
 * slots of the XEP's §5: `issued` holds the token handed out last and not
 * used yet, `current` the one the installation last logged in with. A new
 * token replaces only `issued`, so the token in use keeps working however
 * many new ones are lost on the way (§3.5: not invalidated until the new
 * one is used); logging in with `issued` moves it to `current`, ending the
 * older one.
 */
interface FastTokenSlots {
  current?: FastToken;
  issued?: FastToken;
}

/** A record written before the slots (one token, and the one it replaced until that was used). */
interface LegacyFastTokenRecord {
  mechanism: string;
  token: string;
  expiresAt: number;
  previous?: string;
}

function fastTokenSlots(rec: FastTokenSlots | LegacyFastTokenRecord | undefined): FastTokenSlots {
  if (rec === undefined || !('token' in rec)) return rec ?? {};
  const { mechanism, expiresAt } = rec;
  return { issued: { token: rec.token, mechanism, expiresAt }, current: rec.previous === undefined ? undefined : { token: rec.previous, mechanism, expiresAt } };
}

/** The slots whose token has not expired at `now`: the same record when all have not, so a caller can tell whether any went. */
function liveSlots(slots: FastTokenSlots, now: number): FastTokenSlots {
  const live = (t: FastToken | undefined): FastToken | undefined => (t !== undefined && t.expiresAt > now ? t : undefined);
  if (live(slots.current) === slots.current && live(slots.issued) === slots.issued) return slots;
  return { current: live(slots.current), issued: live(slots.issued) };
}

export class Accounts implements AccountsApi {
  private readonly table: Table;
  private readonly admins: Set<string>;
  /**
   * One FAST issue at a time per account on this node: issuing and trimming read the account's rows and write
   * back what they saw, so two logins at once would each trim from a stale view (dropping tokens just handed out,
   * or writing back a slot the other had removed). Other nodes are not held back; see issueFastToken.
   */
  private readonly fastLocks = new KeyLocks();

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

  /** Creates the account, without a password when `password` is null (it logs in with tokens); false when it already exists. */
  async create(jid: Jid, password: string | null): Promise<boolean> {
    if (password === '') throw new Error('empty password');
    const rec: AccountRecord = { scram: password === null ? null : deriveCredentials(password), created: Date.now() };
    return this.table.putJson(jid.bare, SK, rec, { ifNotExists: true });
  }

  async setPassword(jid: Jid, password: string): Promise<void> {
    const scram = deriveCredentials(password);
    // Compare-and-set: a plain write after the read would bring back an account removed in between, with no data and its name held.
    for (let attempt = 0; ; attempt++) {
      const current = await this.table.get(jid.bare, SK);
      if (current === undefined) throw new Error(`no account ${jid.bare}`);
      const rec: AccountRecord = { ...(JSON.parse(current) as AccountRecord), scram };
      if (await this.table.putJson(jid.bare, SK, rec, { ifValue: current })) break;
      if (attempt === 7) throw new Error(`the account ${jid.bare} kept changing while its password was set`);
    }
    // A new password ends every FAST token: a token must not outlive the password that earned it.
    for (const row of await this.table.range(jid.bare, prefixRange(FAST_PREFIX))) await this.table.delete(jid.bare, row.sk);
  }

  /**
   * Issues a FAST token for one installation of the account, in place of any
   * it was issued and has not used. The user-agent id is the client's to
   * choose, so a client naming a new one at every login would add a row each
   * time: the account keeps at most `maxPerAccount` unexpired tokens (2 at
   * least: this installation's), the oldest ending first, and expired ones are removed.
   * Issues on other nodes are not held back: the cap can still be passed, by one
   * token per node issuing at that moment and until the account's next issue,
   * where a store's range read misses a row just written elsewhere, or one node's
   * trim writes back a row (keeping its other slot) that another just trimmed.
   */
  async issueFastToken(jid: Jid, userAgentId: string, mechanism: string, lifetimeMs: number, maxPerAccount: number): Promise<{ token: string; expiresAt: number }> {
    return this.fastLocks.with([jid.bare], () => this.issueFastTokenNow(jid, userAgentId, mechanism, lifetimeMs, maxPerAccount));
  }

  private async issueFastTokenNow(jid: Jid, userAgentId: string, mechanism: string, lifetimeMs: number, maxPerAccount: number): Promise<{ token: string; expiresAt: number }> {
    const now = Date.now();
    const slots = liveSlots(fastTokenSlots(await this.table.getJson<FastTokenSlots | LegacyFastTokenRecord>(jid.bare, FAST_PREFIX + userAgentId)), now);
    const issued: FastToken = { token: randomBytes(32).toString('base64url'), mechanism, expiresAt: now + lifetimeMs };
    await this.table.putJson(jid.bare, FAST_PREFIX + userAgentId, { current: slots.current, issued } satisfies FastTokenSlots);
    await this.pruneFastTokens(jid, FAST_PREFIX + userAgentId, maxPerAccount - (slots.current === undefined ? 1 : 2), now);
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Removes the expired tokens of the account's other installations, then the ones closest to expiry beyond `room`. */
  private async pruneFastTokens(jid: Jid, keep: string, room: number, now: number): Promise<void> {
    const others = new Map<string, FastTokenSlots>();
    const held: { sk: string; slot: keyof FastTokenSlots; expiresAt: number }[] = [];
    for (const row of await this.table.range(jid.bare, prefixRange(FAST_PREFIX))) {
      if (row.sk === keep) continue;
      const stored = fastTokenSlots(JSON.parse(row.value) as FastTokenSlots | LegacyFastTokenRecord);
      const live = liveSlots(stored, now);
      others.set(row.sk, live);
      for (const slot of ['current', 'issued'] as const) {
        const t = live[slot];
        if (t !== undefined) held.push({ sk: row.sk, slot, expiresAt: t.expiresAt });
      }
      if (live.current !== stored.current || live.issued !== stored.issued) await this.writeSlots(jid, row.sk, live);
    }
    // Issued with the same lifetime, the token closest to expiry is the oldest; after a change of fastTokenDays it is still the one that loses least.
    held.sort((a, b) => a.expiresAt - b.expiresAt);
    const dropped = new Set<string>();
    for (const { sk, slot } of held.slice(0, Math.max(0, held.length - room))) {
      delete others.get(sk)![slot];
      dropped.add(sk);
    }
    for (const sk of dropped) await this.writeSlots(jid, sk, others.get(sk)!);
  }

  /** Writes an installation's slots, or deletes its row once it holds no token. */
  private async writeSlots(jid: Jid, sk: string, slots: FastTokenSlots): Promise<void> {
    if (slots.current === undefined && slots.issued === undefined) await this.table.delete(jid.bare, sk);
    else await this.table.putJson(jid.bare, sk, { current: slots.current, issued: slots.issued } satisfies FastTokenSlots);
  }

  /**
   * The expiry of the installation's unexpired token for `mechanism` that
   * `proves` accepts, null when none does; the one issued last becomes the
   * current one when used.
   */
  async checkFastToken(jid: Jid, userAgentId: string, mechanism: string, proves: (token: Buffer) => boolean): Promise<number | null> {
    const rec = await this.table.getJson<FastTokenSlots | LegacyFastTokenRecord>(jid.bare, FAST_PREFIX + userAgentId);
    const now = Date.now();
    const slots = fastTokenSlots(rec);
    // An installation that stopped logging in leaves its row behind: one found with only expired tokens goes.
    const live = liveSlots(slots, now);
    if (rec !== undefined && live.current === undefined && live.issued === undefined) {
      await this.table.delete(jid.bare, FAST_PREFIX + userAgentId);
      return null;
    }
    const accepts = (t: FastToken | undefined): t is FastToken => t !== undefined && t.mechanism === mechanism && t.expiresAt > now && proves(Buffer.from(t.token, 'utf8'));
    if (accepts(slots.issued)) {
      await this.table.putJson(jid.bare, FAST_PREFIX + userAgentId, { current: slots.issued } satisfies FastTokenSlots);
      return slots.issued.expiresAt;
    }
    return accepts(slots.current) ? slots.current.expiresAt : null;
  }

  async forgetFastToken(jid: Jid, userAgentId: string): Promise<void> {
    await this.table.delete(jid.bare, FAST_PREFIX + userAgentId);
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
