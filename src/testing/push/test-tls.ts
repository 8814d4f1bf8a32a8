/**
 * Throw-away credentials for push tests, generated at test time so no key
 * material lives in the repository: a self-signed certificate for 127.0.0.1
 * (its own CA), an APNs-style .p8 key (EC P-256, PKCS#8 PEM).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

export interface TestTlsIdentity {
  /** Server private key (PEM). */
  key: string;
  /** Server certificate (PEM); trust it as the CA. */
  cert: string;
}

/** Self-signed certificate valid for IP 127.0.0.1 and DNS localhost. */
export function generateLoopbackCert(): TestTlsIdentity {
  const pems = selfsigned.generate([{ name: 'commonName', value: 'sori push test' }], {
    days: 2,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export interface TestP8Key {
  /** PKCS#8 PEM private key, the format of Apple's AuthKey_XXXX.p8. */
  privateKey: string;
  publicKey: string;
}

export function generateP8Key(): TestP8Key {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey };
}

/** A temp directory for key/CA files; `remove()` deletes it. */
export function tempDir(prefix: string): { path: string; write(name: string, data: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    write(name, data) {
      const file = join(path, name);
      writeFileSync(file, data, { mode: 0o600 });
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
