import { randomBytes } from 'node:crypto';
import { saslprep } from '../../util/saslprep.js';
import { SaslFailure, type SaslContext, type SaslMechanism, type SaslStep } from './mechanism.js';
import { deriveCredentials, verifyPassword, type StoredCredentials } from './scram.js';

let decoy: StoredCredentials | undefined;
/** Credentials of no account, checked for unknown users: made once, of a random password nobody can give. */
function decoyCredentials(): StoredCredentials {
  decoy ??= deriveCredentials(randomBytes(18).toString('base64'));
  return decoy;
}

/** RFC 4616 PLAIN, offered only on encrypted streams; the password may be a login token (auth.jwt*). */
export class PlainServer implements SaslMechanism {
  constructor(private readonly ctx: SaslContext) {}

  async step(input: Buffer): Promise<SaslStep> {
    const parts = input.toString('utf8').split('\0');
    if (parts.length !== 3) throw new SaslFailure('malformed-request', 'PLAIN message must be authzid NUL authcid NUL passwd');
    const [authzid, authcid, password] = parts as [string, string, string];
    let username: string;
    let pass: string;
    try {
      username = saslprep(authcid);
      pass = saslprep(password);
    } catch {
      throw new SaslFailure('malformed-request', 'credentials are not valid SASLprep');
    }
    if (username === '' || pass === '') throw new SaslFailure('not-authorized', undefined, username);
    if (authzid !== '' && !this.ctx.authzidMatches(authzid, username)) throw new SaslFailure('invalid-authzid', 'authorization identity does not match');
    const stored = await this.ctx.credentials(username);
    // An unknown user costs the same key derivation as a known one: the time taken must not tell them apart.
    if (verifyPassword(stored ?? decoyCredentials(), pass) && stored !== null) return { type: 'success', username };
    if (await this.ctx.tokenAllows(username, pass)) return { type: 'success', username };
    throw new SaslFailure('not-authorized', undefined, username);
  }
}
