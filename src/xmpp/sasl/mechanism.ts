import type { StoredCredentials } from './scram.js';

/** RFC 6120 §6.5 SASL failure conditions. */
export type SaslCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

export class SaslFailure extends Error {
  constructor(
    readonly condition: SaslCondition,
    readonly text?: string,
    /** The username that failed, when known (for per-account throttling). */
    readonly username?: string,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'SaslFailure';
  }
}

export type SaslStep = { type: 'challenge'; data: Buffer } | { type: 'success'; username: string; data?: Buffer };

export interface SaslMechanism {
  /** Processes one client message; throws SaslFailure. */
  step(input: Buffer): Promise<SaslStep>;
}

/** What a mechanism needs from the stream and the account store. */
export interface SaslContext {
  credentials(username: string): Promise<StoredCredentials | null>;
  /** The key unknown users' decoy SCRAM salts are derived with: the same on every node and after restarts, as a real account's salt is. */
  decoyKey(): Buffer;
  /**
   * The account name `username` stands for (JIDs' case mapping): a decoy is
   * derived from it, so that `Mallory` and `mallory` get one salt, as `Alice`
   * and `alice` do by naming one account.
   */
  accountName(username: string): string;
  /** Whether `token` is a login token (auth.jwt*) for `username`; false when tokens are not configured. */
  tokenAllows(username: string, token: string): Promise<boolean>;
  /** Channel-binding types this connection can provide (empty when not on TLS). */
  channelBindingTypes(): string[];
  channelBinding(type: string): Buffer | null;
  /** Whether `authzid` may be used by `username` (only the user's own JID here). */
  authzidMatches(authzid: string, username: string): boolean;
}
