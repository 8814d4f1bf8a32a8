import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWTVerifyGetKey } from 'jose';
import { tryParseJid, type Jid } from '../../util/jid.js';

/** Where signed login tokens come from: `auth.jwt*` of the configuration. */
export interface TokenSettings {
  /** HMAC secret (HS256/384/512). */
  secret?: string;
  /** PEM file of the public key (RS*, PS*, ES*, EdDSA). */
  publicKeyFile?: string;
  /** An identity provider's JWKS URL, fetched and cached. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** The claim naming the account: its bare JID, or a local part of `domain`. */
  claim: string;
  /**
   * The domain a claim with no '@' (a bare local part) names. Unset: such claims are refused. Not
   * "the domain logged in to": on a server hosting several domains, one backend's token for
   * `alice` would then log in as alice on every one of them.
   */
  domain?: string;
}

/** JWS algorithms a key may verify, from its type: never `none`, never HMAC with a public key. */
function algorithmsFor(key: KeyObject): string[] {
  if (key.type === 'secret') return ['HS256', 'HS384', 'HS512'];
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    case 'ed25519':
    case 'ed448':
      return ['EdDSA', 'Ed25519'];
    default:
      throw new Error(`auth.jwtPublicKey: keys of type ${key.asymmetricKeyType} cannot verify tokens`);
  }
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** A compact JWS: three base64url parts. Anything else is a password, not a token. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function looksLikeToken(password: string): boolean {
  return password.length < 16_384 && COMPACT_JWS.test(password);
}

/**
 * Checks login tokens (JWT, RFC 7519) that an application's own backend
 * signs for its users, given as the password of a SASL PLAIN login, the way
 * ejabberd's and MongooseIM's JWT authentication take them: standard clients
 * log in unchanged. A token is accepted when its signature verifies with the
 * configured key, it has an `exp` still in the future (tokens without one are
 * refused), `nbf`, `iss` and `aud` fit when given, and its `claim` names the
 * account logging in. An `iat` must be a number but may lie in the future:
 * RFC 7519 §4.1.6 makes it information about the token's age, not a condition
 * of validity as `exp` and `nbf` are (§4.1.4, §4.1.5), and the token cannot
 * outlive its `exp` whatever it says.
 */
export class TokenVerifier {
  private constructor(
    private readonly settings: TokenSettings,
    private readonly jose: typeof import('jose'),
    /** The key for a token: one configured key, or the JWKS entry its kid names. */
    private readonly keys: JWTVerifyGetKey,
    private readonly algorithms: string[],
  ) {}

  /** Null when no key is configured (tokens are not accepted). jose is only loaded when one is. */
  static async create(settings: TokenSettings): Promise<TokenVerifier | null> {
    const sources = [settings.secret, settings.publicKeyFile, settings.jwksUrl].filter((s) => s !== undefined && s !== '');
    if (sources.length === 0) return null;
    if (sources.length > 1) throw new Error('auth: set one of jwtSecret, jwtPublicKey and jwksUrl');
    const jose = await import('jose');
    if (settings.secret) {
      if (Buffer.byteLength(settings.secret) < 32) throw new Error('auth.jwtSecret: use at least 32 bytes (RFC 7518 §3.2 wants a key as long as the hash)');
      const key = createSecretKey(Buffer.from(settings.secret));
      return new TokenVerifier(settings, jose, () => key, algorithmsFor(key));
    }
    if (settings.publicKeyFile) {
      const key = createPublicKey(readFileSync(settings.publicKeyFile));
      return new TokenVerifier(settings, jose, () => key, algorithmsFor(key));
    }
    let url: URL;
    try {
      url = new URL(settings.jwksUrl!);
    } catch {
      throw new Error(`auth.jwksUrl: not a URL: ${settings.jwksUrl}`);
    }
    return new TokenVerifier(settings, jose, jose.createRemoteJWKSet(url), ASYMMETRIC);
  }

  /**
   * Whether `token` lets `jid` (a bare JID) log in. A bad, expired or foreign
   * token is false; an identity provider that cannot be reached throws, so
   * the client hears temporary-auth-failure rather than wrong credentials.
   */
  async allows(token: string, jid: Jid): Promise<boolean> {
    if (!looksLikeToken(token)) return false;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await this.jose.jwtVerify(token, this.keys, { algorithms: this.algorithms, issuer: this.settings.issuer, audience: this.settings.audience, requiredClaims: ['exp'], clockTolerance: 30 }));
    } catch (e) {
      if (e instanceof this.jose.errors.JOSEError && !(e instanceof this.jose.errors.JWKSTimeout)) return false;
      throw e;
    }
    const named = payload[this.settings.claim];
    if (typeof named !== 'string') return false;
    if (!named.includes('@') && this.settings.domain === undefined) return false;
    // Compared as JIDs (normalised), so the backend need not lower-case them as XMPP does.
    return tryParseJid(named.includes('@') ? named : `${named}@${this.settings.domain}`)?.bare === jid.bare;
  }
}
