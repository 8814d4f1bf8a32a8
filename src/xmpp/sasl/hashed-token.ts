import { createHmac, timingSafeEqual } from 'node:crypto';
import { SaslFailure, type SaslMechanism, type SaslStep } from './mechanism.js';

export const HT_SHA_256_NONE = 'HT-SHA-256-NONE';

/** The HT draft's names for the channel-binding types a TLS stream may have (RFC 9266, RFC 5929). */
const HT_BINDING_NAMES: ReadonlyMap<string, string> = new Map([
  ['tls-exporter', 'EXPR'],
  ['tls-server-end-point', 'ENDP'],
  ['tls-unique', 'UNIQ'],
]);

/**
 * The HT-SHA-256 mechanisms a stream can offer for XEP-0484 FAST: one bound
 * to each channel-binding type it has (first: clients must prefer them,
 * §6), then -NONE for clients that cannot bind (web clients).
 */
export function hashedTokenMechanisms(channelBindingTypes: readonly string[]): string[] {
  const bound = channelBindingTypes.filter((type) => HT_BINDING_NAMES.has(type)).map((type) => `HT-SHA-256-${HT_BINDING_NAMES.get(type)!}`);
  return [...bound, HT_SHA_256_NONE];
}

/** The channel-binding type an HT-SHA-256 mechanism binds to: null for -NONE, undefined when `name` is not one of them. */
export function hashedTokenBinding(name: string): string | null | undefined {
  if (name === HT_SHA_256_NONE) return null;
  for (const [type, short] of HT_BINDING_NAMES) if (name === `HT-SHA-256-${short}`) return type;
  return undefined;
}

/** Looks up a username's token for this installation and asks `proves` whether it is the one the client used. */
export type TokenCheck = (username: string, proves: (token: Buffer) => boolean) => Promise<boolean>;

const hmac = (key: Buffer, label: string, channelBinding: Buffer): Buffer => createHmac('sha256', key).update(label, 'utf8').update(channelBinding).digest();

/**
 * The HT-SHA-256 mechanisms of XEP-0484 (FAST), from the SASL HT draft: the
 * client sends `username NUL HMAC-SHA-256(token, "Initiator" || cb-data)`
 * and the server proves it knows the token with
 * `HMAC-SHA-256(token, "Responder" || cb-data)`. cb-data is the stream's
 * channel binding for the mechanism's type, empty for -NONE (offered only
 * inside SASL2, on TLS streams).
 */
export class HashedTokenServer implements SaslMechanism {
  constructor(
    private readonly check: TokenCheck,
    private readonly channelBinding: Buffer,
  ) {}

  async step(input: Buffer): Promise<SaslStep> {
    const nul = input.indexOf(0);
    if (nul <= 0 || nul === input.length - 1) throw new SaslFailure('malformed-request', 'expected username NUL proof');
    const username = input.subarray(0, nul).toString('utf8');
    const proof = input.subarray(nul + 1);
    let used: Buffer | null = null;
    const ok = await this.check(username, (token) => {
      const expected = hmac(token, 'Initiator', this.channelBinding);
      if (expected.length !== proof.length || !timingSafeEqual(expected, proof)) return false;
      used = token;
      return true;
    });
    if (!ok || used === null) throw new SaslFailure('not-authorized', 'unknown or expired token', username);
    return { type: 'success', username, data: hmac(used, 'Responder', this.channelBinding) };
  }
}
