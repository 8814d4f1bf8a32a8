/**
 * A certificate authority made at test time (node-forge, which `selfsigned`
 * already depends on): a CA and leaf certificates for server domains, with
 * both serverAuth and clientAuth usages since s2s peers present them both ways.
 */
import forge from 'node-forge';

export interface Pem {
  cert: string;
  key: string;
}

function serial(): string {
  // Positive, 16 bytes.
  return '01' + forge.util.bytesToHex(forge.random.getBytesSync(15));
}

function newCert(subjectCn: string, publicKey: forge.pki.PublicKey, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subjectCn }]);
  return cert;
}

export class TestCa {
  private constructor(
    private readonly caCert: forge.pki.Certificate,
    private readonly caKey: forge.pki.rsa.PrivateKey,
    readonly name: string,
  ) {}

  /** A new self-signed CA (2048-bit RSA: generating takes a moment). */
  static create(name = 'sori test CA'): TestCa {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = newCert(name, keys.publicKey, 30);
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    return new TestCa(cert, keys.privateKey, name);
  }

  get certPem(): string {
    return forge.pki.certificateToPem(this.caCert);
  }

  /** A leaf for `domains` (first one is the CN), each also as `*.domain`. */
  issue(domains: readonly string[]): Pem {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = newCert(domains[0]!, keys.publicKey, 30);
    cert.setIssuer(this.caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: domains.map((d) => ({ type: 2, value: d })) },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.caKey, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
  }

  /** A self-signed leaf for `domains`: valid identity, chains to nothing anyone trusts. */
  static selfSigned(domains: readonly string[]): Pem {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const cert = newCert(domains[0]!, keys.publicKey, 30);
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: domains.map((d) => ({ type: 2, value: d })) },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
  }
}
