import { createHmac, timingSafeEqual } from 'node:crypto';
import { SaslFailure, type SaslMechanism, type SaslStep } from './mechanism.js';

export const HT_SHA_256_NONE = 'HT-SHA-256-NONE';

/** Looks up a username's token for this installation and asks `proves` whether it is the one the client used. */
export type TokenCheck = (username: string, proves: (token: Buffer) => boolean) => Promise<boolean>;

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text, 'utf8').digest();

/**
 * The HT-SHA-256-NONE mechanism of XEP-0484 (FAST), from the SASL HT draft:
 * the client sends `username NUL HMAC-SHA-256(token, "Initiator")` and the
 * server proves it knows the token with `HMAC-SHA-256(token, "Responder")`.
 * No channel binding (-NONE): only offered inside SASL2 on TLS streams.
 */
export class HashedTokenServer implements SaslMechanism {
  constructor(private readonly check: TokenCheck) {}

  async step(input: Buffer): Promise<SaslStep> {
    const nul = input.indexOf(0);
    if (nul <= 0 || nul === input.length - 1) throw new SaslFailure('malformed-request', 'expected username NUL proof');
    const username = input.subarray(0, nul).toString('utf8');
    const proof = input.subarray(nul + 1);
    let used: Buffer | null = null;
    const ok = await this.check(username, (token) => {
      const expected = hmac(token, 'Initiator');
      if (expected.length !== proof.length || !timingSafeEqual(expected, proof)) return false;
      used = token;
      return true;
    });
    if (!ok || used === null) throw new SaslFailure('not-authorized', 'unknown or expired token', username);
    return { type: 'success', username, data: hmac(used, 'Responder') };
  }
}
