import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprep } from '../../util/saslprep.js';
import { SaslFailure, type SaslMechanism, type SaslStep, type SaslContext } from './mechanism.js';
import { randomBase64 } from '../../util/random-token.js';

export type ScramHash = 'SHA-1' | 'SHA-256';

/** What is stored per account and hash: never the password (RFC 5802 §3). */
export interface ScramCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

export type StoredCredentials = Record<ScramHash, ScramCredential>;

const NODE_HASH: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' };
const KEY_LEN: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32 };
export const DEFAULT_ITERATIONS = 4096;

function hmac(hash: ScramHash, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(NODE_HASH[hash], key).update(data).digest();
}

function h(hash: ScramHash, data: Buffer): Buffer {
  return createHash(NODE_HASH[hash]).update(data).digest();
}

export function saltedPassword(hash: ScramHash, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslprep(password), salt, iterations, KEY_LEN[hash], NODE_HASH[hash]);
}

export function deriveCredential(hash: ScramHash, password: string, salt: Buffer = randomBytes(16), iterations = DEFAULT_ITERATIONS): ScramCredential {
  const salted = saltedPassword(hash, password, salt, iterations);
  const clientKey = hmac(hash, salted, 'Client Key');
  return {
    salt: salt.toString('base64'),
    iterations,
    storedKey: h(hash, clientKey).toString('base64'),
    serverKey: hmac(hash, salted, 'Server Key').toString('base64'),
  };
}

export function deriveCredentials(password: string, iterations = DEFAULT_ITERATIONS): StoredCredentials {
  return { 'SHA-1': deriveCredential('SHA-1', password, randomBytes(16), iterations), 'SHA-256': deriveCredential('SHA-256', password, randomBytes(16), iterations) };
}

/** Checks a plaintext password (SASL PLAIN, XEP-0077) against stored SCRAM keys. */
export function verifyPassword(stored: StoredCredentials, password: string): boolean {
  const cred = stored['SHA-256'];
  const again = deriveCredential('SHA-256', password, Buffer.from(cred.salt, 'base64'), cred.iterations);
  return timingSafeEqual(Buffer.from(again.storedKey, 'base64'), Buffer.from(cred.storedKey, 'base64'));
}

/** RFC 5802 §5.1 saslname: '=2C' is ',', '=3D' is '='; any other '=' is malformed. */
function decodeSaslName(s: string): string {
  if (/=(?!2C|3D)/.test(s)) throw new SaslFailure('malformed-request', 'bad escaping in username');
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

function parseAttributes(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new SaslFailure('malformed-request', 'malformed SCRAM attribute');
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/**
 * Fake credentials for an unknown user, so that a probe cannot tell a
 * missing account from a wrong password. A real account's salt never
 * changes, so neither may a decoy's: it is derived from the name with a key
 * the whole server shares (`key`), not drawn per process, or asking twice
 * (through two nodes, or across a restart) would give the missing account
 * away. Without the key it cannot be told from a random salt. Each hash gets
 * its own, as an account's two credentials each have their own salt.
 */
export function decoyCredential(key: Buffer, hash: ScramHash, username: string): ScramCredential {
  const salt = createHmac('sha256', key).update(`${hash}\u0000${username}`).digest().subarray(0, 16);
  return { salt: salt.toString('base64'), iterations: DEFAULT_ITERATIONS, storedKey: '', serverKey: '' };
}

/**
 * Server side of SCRAM-SHA-1/SHA-256 with optional channel binding (-PLUS),
 * RFC 5802 and RFC 7677, channel-binding types from RFC 5929 and RFC 9266.
 */
export class ScramServer implements SaslMechanism {
  private stage = 0;
  private username = '';
  private gs2Header = '';
  private cbType: string | null = null;
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private credential: ScramCredential | null = null;

  constructor(
    private readonly hash: ScramHash,
    private readonly plus: boolean,
    private readonly ctx: SaslContext,
  ) {}

  async step(input: Buffer): Promise<SaslStep> {
    if (this.stage === 0) return this.clientFirst(input.toString('utf8'));
    if (this.stage === 1) return this.clientFinal(input.toString('utf8'));
    throw new SaslFailure('malformed-request', 'unexpected SCRAM message');
  }

  private async clientFirst(msg: string): Promise<SaslStep> {
    // gs2-header: cb-flag "," [authzid] ","
    const first = msg.indexOf(',');
    const second = msg.indexOf(',', first + 1);
    if (first === -1 || second === -1) throw new SaslFailure('malformed-request', 'missing GS2 header');
    const flag = msg.slice(0, first);
    const authzid = msg.slice(first + 1, second);
    this.gs2Header = msg.slice(0, second + 1);
    this.clientFirstBare = msg.slice(second + 1);
    if (flag.startsWith('p=')) {
      if (!this.plus) throw new SaslFailure('malformed-request', 'channel binding requested with a non-PLUS mechanism');
      this.cbType = flag.slice(2);
      if (!this.ctx.channelBindingTypes().includes(this.cbType)) throw new SaslFailure('malformed-request', `unsupported channel binding ${this.cbType}`);
    } else if (flag === 'y') {
      // "I could bind, but think you cannot" (RFC 5802 §6). Most such clients only know
      // tls-unique, which TLS 1.3 does not define; refusing them would lock them out.
      // Where tls-unique is available it is a real downgrade signal and is refused.
      if (this.ctx.channelBindingTypes().includes('tls-unique')) throw new SaslFailure('not-authorized', 'channel binding downgrade detected');
    } else if (flag !== 'n') {
      throw new SaslFailure('malformed-request', 'bad channel binding flag');
    }
    // A -PLUS mechanism with "n" ("I cannot bind") is inconsistent, but some clients send it
    // (stanza picks the best mechanism offered whether or not it can bind). It is then SCRAM
    // without binding, which this stream offers anyway, so nothing is lost by going on; Prosody does too.
    const attrs = parseAttributes(this.clientFirstBare);
    if (attrs.has('m')) throw new SaslFailure('malformed-request', 'mandatory extensions are not supported');
    const n = attrs.get('n');
    const r = attrs.get('r');
    if (!n || !r) throw new SaslFailure('malformed-request', 'missing username or nonce');
    try {
      this.username = saslprep(decodeSaslName(n));
    } catch (e) {
      if (e instanceof SaslFailure) throw e;
      throw new SaslFailure('malformed-request', 'username is not valid SASLprep');
    }
    if (authzid !== '') {
      const z = decodeSaslName(authzid.startsWith('a=') ? authzid.slice(2) : '');
      if (!this.ctx.authzidMatches(z, this.username)) throw new SaslFailure('invalid-authzid', 'authorization identity does not match');
    }
    const stored = await this.ctx.credentials(this.username);
    this.credential = stored?.[this.hash] ?? null;
    const cred = this.credential ?? decoyCredential(this.ctx.decoyKey(), this.hash, this.ctx.accountName(this.username));
    this.nonce = r + randomBase64(18);
    this.serverFirst = `r=${this.nonce},s=${cred.salt},i=${cred.iterations}`;
    this.stage = 1;
    return { type: 'challenge', data: Buffer.from(this.serverFirst) };
  }

  private async clientFinal(msg: string): Promise<SaslStep> {
    this.stage = 2;
    const proofAt = msg.lastIndexOf(',p=');
    if (proofAt === -1) throw new SaslFailure('malformed-request', 'missing proof');
    const withoutProof = msg.slice(0, proofAt);
    const attrs = parseAttributes(msg);
    const c = attrs.get('c');
    const r = attrs.get('r');
    const p = attrs.get('p');
    if (c === undefined || r === undefined || p === undefined) throw new SaslFailure('malformed-request', 'incomplete client-final-message');
    if (r !== this.nonce) throw new SaslFailure('malformed-request', 'nonce mismatch');
    let expectedCb = Buffer.from(this.gs2Header);
    if (this.cbType !== null) {
      const data = this.ctx.channelBinding(this.cbType);
      if (data === null) throw new SaslFailure('malformed-request', 'channel binding data unavailable');
      expectedCb = Buffer.concat([expectedCb, data]);
    }
    const cbOk = Buffer.from(c, 'base64').equals(expectedCb);
    const cred = this.credential;
    if (cred === null) throw new SaslFailure('not-authorized', undefined, this.username);
    // The same answer as for a wrong password or an unknown user: a distinct one would tell which accounts exist.
    if (!cbOk) throw new SaslFailure('not-authorized', undefined, this.username);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const storedKey = Buffer.from(cred.storedKey, 'base64');
    const signature = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.from(p, 'base64');
    if (proof.length !== signature.length) throw new SaslFailure('not-authorized', undefined, this.username);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    if (!timingSafeEqual(h(this.hash, clientKey), storedKey)) throw new SaslFailure('not-authorized', undefined, this.username);
    const serverSignature = hmac(this.hash, Buffer.from(cred.serverKey, 'base64'), authMessage);
    return { type: 'success', username: this.username, data: Buffer.from(`v=${serverSignature.toString('base64')}`) };
  }
}

/** Client side, for tests and the benchmark generator. */
export class ScramClient {
  private readonly cnonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private gs2 = '';
  private serverSignature: Buffer | null = null;

  constructor(
    private readonly hash: ScramHash,
    private readonly username: string,
    private readonly password: string,
    private readonly binding: { type: string; data: Buffer } | null = null,
  ) {}

  first(): string {
    this.gs2 = this.binding ? `p=${this.binding.type},,` : 'n,,';
    this.clientFirstBare = `n=${this.username.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${this.cnonce}`;
    return this.gs2 + this.clientFirstBare;
  }

  final(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    const salted = saltedPassword(this.hash, this.password, Buffer.from(attrs.get('s')!, 'base64'), Number(attrs.get('i')));
    const clientKey = hmac(this.hash, salted, 'Client Key');
    const storedKey = h(this.hash, clientKey);
    const cb = this.binding ? Buffer.concat([Buffer.from(this.gs2), this.binding.data]) : Buffer.from(this.gs2);
    const withoutProof = `c=${cb.toString('base64')},r=${attrs.get('r')}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const sig = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ sig[i]!;
    this.serverSignature = hmac(this.hash, hmac(this.hash, salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verify(serverFinal: string): boolean {
    return this.serverSignature !== null && serverFinal === `v=${this.serverSignature.toString('base64')}`;
  }
}
