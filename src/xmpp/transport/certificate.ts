import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants, X509Certificate } from 'node:crypto';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../../util/log.js';

export interface TlsCredentials {
  cert: string;
  key: string;
  context: SecureContext;
  /** Called after the certificate is replaced in place (a reload), for listeners that hold their own copy of it. */
  onReplaced?(listener: (credentials: TlsCredentials) => void): void;
}

/**
 * The certificate in use, replaced in place on a reload (SIGHUP): a
 * certificate renewed every 60–90 days (Let's Encrypt) must reach new
 * connections without a restart, which would end every session. Whoever
 * reads `context`, `cert` and `key` per connection gets the new one; servers
 * built with their own copy subscribe with `onReplaced`. Open connections
 * keep the certificate they were made with.
 */
export class ReloadableCredentials implements TlsCredentials {
  private readonly listeners: Array<(credentials: TlsCredentials) => void> = [];

  constructor(
    public cert: string,
    public key: string,
    public context: SecureContext,
  ) {}

  onReplaced(listener: (credentials: TlsCredentials) => void): void {
    this.listeners.push(listener);
  }

  replace(next: TlsCredentials): void {
    this.cert = next.cert;
    this.key = next.key;
    this.context = next.context;
    for (const listener of this.listeners) listener(this);
  }
}

/** Days within which an expiring certificate is logged as a warning at every load. */
const EXPIRY_WARNING_DAYS = 14;

/**
 * TLS settings of every listener (c2s, s2s, HTTPS/WebSocket), STARTTLS or direct.
 * TLS 1.3 suites in the server's order, AES-128-GCM first (as Go and Mozilla's
 * guidelines order them): its SHA-256 key schedule runs on the SHA extensions
 * of current x86 and ARM CPUs, which have none for the SHA-384 of the suite
 * Node's clients ask for first; 4–6 % less CPU per handshake here. A client
 * that puts ChaCha20 first (a phone without AES instructions) still gets it.
 */
export const serverTlsOptions: Readonly<SecureContextOptions> = {
  minVersion: 'TLSv1.2',
  // Node takes the TLS 1.3 suites from the same list as the TLS 1.2 ciphers.
  ciphers: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', ...DEFAULT_CIPHERS.split(':').filter((name) => !name.startsWith('TLS_'))].join(':'),
  secureOptions: constants.SSL_OP_CIPHER_SERVER_PREFERENCE | constants.SSL_OP_PRIORITIZE_CHACHA,
};

/**
 * Loads the configured certificate, or creates a self-signed one for the
 * served domains on first start so that `npm start` needs no setup. Clients
 * will warn about it; production deployments configure tls.cert/tls.key.
 * The generator (selfsigned, on node-forge: 40-odd modules kept in the heap)
 * is loaded only when a certificate must be made.
 */
export async function loadCredentials(opts: { cert?: string; key?: string; dir: string; hosts: readonly string[]; log: Logger; baseDir: string }): Promise<ReloadableCredentials> {
  let cert: string;
  let key: string;
  if (opts.cert !== undefined || opts.key !== undefined) {
    if (opts.cert === undefined || opts.key === undefined) throw new Error('tls.cert and tls.key must be set together');
    cert = readFileSync(resolve(opts.baseDir, opts.cert), 'utf8');
    key = readFileSync(resolve(opts.baseDir, opts.key), 'utf8');
  } else {
    const certFile = join(opts.dir, 'self-signed.crt');
    const keyFile = join(opts.dir, 'self-signed.key');
    if (existsSync(certFile) && existsSync(keyFile)) {
      cert = readFileSync(certFile, 'utf8');
      key = readFileSync(keyFile, 'utf8');
    } else {
      const { default: selfsigned } = await import('selfsigned');
      const pems = selfsigned.generate([{ name: 'commonName', value: opts.hosts[0]! }], {
        keySize: 2048,
        days: 3650,
        algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: opts.hosts.flatMap((h) => [{ type: 2, value: h }, { type: 2, value: `*.${h}` }]) }],
      });
      mkdirSync(opts.dir, { recursive: true });
      writeFileSync(certFile, pems.cert);
      writeFileSync(keyFile, pems.private, { mode: 0o600 });
      opts.log.info(`generated a self-signed certificate for ${opts.hosts.join(', ')} in ${opts.dir}`);
      cert = pems.cert;
      key = pems.private;
    }
  }
  // Throws on a key that does not match the certificate, before anything is replaced.
  const context = createSecureContext({ ...serverTlsOptions, cert, key });
  warnIfExpiring(cert, opts.log);
  return new ReloadableCredentials(cert, key, context);
}

function warnIfExpiring(cert: string, log: Logger): void {
  const validTo = Date.parse(new X509Certificate(cert).validTo);
  const days = (validTo - Date.now()) / 86_400_000;
  if (days < 0) log.error(`the TLS certificate expired on ${new Date(validTo).toISOString()}: clients will refuse to connect`);
  else if (days < EXPIRY_WARNING_DAYS) log.warn(`the TLS certificate expires in ${Math.floor(days)} days (${new Date(validTo).toISOString()}); renew it and send sori SIGHUP`);
}
