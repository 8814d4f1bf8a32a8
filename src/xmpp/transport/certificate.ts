import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import selfsigned from 'selfsigned';
import type { Logger } from '../../util/log.js';

export interface TlsCredentials {
  cert: string;
  key: string;
  context: SecureContext;
}

/**
 * Loads the configured certificate, or creates a self-signed one for the
 * served domains on first start so that `npm start` needs no setup. Clients
 * will warn about it; production deployments configure tls.cert/tls.key.
 */
export function loadCredentials(opts: { cert?: string; key?: string; dir: string; hosts: readonly string[]; log: Logger; baseDir: string }): TlsCredentials {
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
  return { cert, key, context: createSecureContext({ cert, key, minVersion: 'TLSv1.2' }) };
}
