/**
 * SCRAM-SHA-1 (RFC 5802) client with a cache of derived keys.
 *
 * PBKDF2 with 4,096 iterations costs the client milliseconds per login, while
 * servers that store SCRAM keys (Prosody, ejabberd) only compute a few HMACs.
 * Without a cache the generator, not the server, would limit a login storm.
 * The salt is chosen by the server per account, so keys are cached per
 * (password, salt, iterations) the first time an account logs in; runs warm
 * the cache before anything is timed.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

interface DerivedKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const derivedKeyCache = new Map<string, DerivedKeys>();
let cacheHits = 0;
let cacheMisses = 0;

export function scramCacheStats(): { hits: number; misses: number; size: number } {
  return { hits: cacheHits, misses: cacheMisses, size: derivedKeyCache.size };
}

async function deriveKeys(password: string, saltBase64: string, iterations: number): Promise<DerivedKeys> {
  const cacheKey = `${iterations}:${saltBase64}:${password}`;
  const cached = derivedKeyCache.get(cacheKey);
  if (cached) {
    cacheHits++;
    return cached;
  }
  cacheMisses++;
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, Buffer.from(saltBase64, 'base64'), iterations, 20, 'sha1', (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
  const clientKey = createHmac('sha1', salted).update('Client Key').digest();
  const keys: DerivedKeys = {
    clientKey,
    storedKey: createHash('sha1').update(clientKey).digest(),
    serverKey: createHmac('sha1', salted).update('Server Key').digest(),
  };
  derivedKeyCache.set(cacheKey, keys);
  return keys;
}

/** One SCRAM exchange: `start()`, then `respond(challenge)`, then `verify(success)`. */
export class ScramSha1Client {
  private readonly clientNonce = randomBytes(18).toString('base64');
  private readonly clientFirstBare: string;
  private expectedServerSignature = '';

  constructor(
    username: string,
    private readonly password: string,
  ) {
    // Usernames here are ASCII account names; SASLprep and '='/',' escaping are not needed.
    this.clientFirstBare = `n=${username},r=${this.clientNonce}`;
  }

  /** Base64 initial response for `<auth mechanism='SCRAM-SHA-1'>`. */
  start(): string {
    return Buffer.from(`n,,${this.clientFirstBare}`).toString('base64');
  }

  /** Base64 client-final message for the server-first challenge (base64). */
  async respond(challengeBase64: string): Promise<string> {
    const serverFirst = Buffer.from(challengeBase64, 'base64').toString();
    const fields = parseFields(serverFirst);
    const nonce = fields.get('r');
    const salt = fields.get('s');
    const iterations = Number(fields.get('i'));
    if (!nonce || !salt || !iterations || !nonce.startsWith(this.clientNonce)) {
      throw new Error(`bad SCRAM server-first: ${serverFirst}`);
    }
    const keys = await deriveKeys(this.password, salt, iterations);
    const clientFinalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = createHmac('sha1', keys.storedKey).update(authMessage).digest();
    const proof = Buffer.alloc(clientSignature.length);
    for (let index = 0; index < proof.length; index++) proof[index] = keys.clientKey[index]! ^ clientSignature[index]!;
    this.expectedServerSignature = createHmac('sha1', keys.serverKey).update(authMessage).digest('base64');
    return Buffer.from(`${clientFinalWithoutProof},p=${proof.toString('base64')}`).toString('base64');
  }

  /** True when the server-final message (base64, from <success>) proves the server knows the keys. */
  verify(successBase64: string): boolean {
    const fields = parseFields(Buffer.from(successBase64, 'base64').toString());
    return fields.get('v') === this.expectedServerSignature;
  }
}

function parseFields(message: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of message.split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0) fields.set(part.slice(0, equals), part.slice(equals + 1));
  }
  return fields;
}
