import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, rootCertificates, type PeerCertificate, type TLSSocket } from 'node:tls';

/** Splits a PEM bundle into its certificates. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export interface CertificateCheck {
  /** Chains to a trusted CA and names the domain (RFC 6125 DNS-ID). */
  valid: boolean;
  /** Why not, for logs: 'no certificate', 'untrusted chain', the identity mismatch… */
  reason: string;
}

/**
 * The certificate authorities peer servers are checked against (`s2s.ca`, or
 * the system roots when none are configured), and the check itself.
 *
 * The chain is verified here with node:crypto's X509Certificate rather than
 * through `TLSSocket.authorized`, because a server-side TLSSocket made for
 * STARTTLS on an existing socket never fills `authorized` in (only tls.Server
 * does, through internals). One code path then serves both directions, both
 * STARTTLS and direct TLS; the TLS layer only has to request the certificate.
 */
export class S2sTrust {
  private readonly anchors: X509Certificate[];
  private readonly anchorPrints: Set<string>;

  constructor(caPems: readonly string[]) {
    const pems = caPems.length > 0 ? caPems.flatMap(splitPem) : [...rootCertificates];
    this.anchors = pems.map((p) => new X509Certificate(p));
    this.anchorPrints = new Set(this.anchors.map((a) => a.fingerprint256));
  }

  /** Reads `s2s.ca` files (relative to the config file's directory). */
  static fromFiles(files: readonly string[], baseDir: string): S2sTrust {
    const pems = files.map((f) => {
      const text = readFileSync(resolve(baseDir, f), 'utf8');
      if (splitPem(text).length === 0) throw new Error(`s2s.ca: ${f} holds no PEM certificate`);
      return text;
    });
    return new S2sTrust(pems);
  }

  /** Checks the certificate the peer presented on `socket` for `domain`. */
  check(socket: TLSSocket, domain: string): CertificateCheck {
    const peer = socket.getPeerCertificate(true);
    if (peer === null || peer === undefined || !('raw' in peer) || peer.raw === undefined) return { valid: false, reason: 'no certificate' };
    const chainError = this.verifyChain(peer);
    if (chainError !== null) return { valid: false, reason: chainError };
    const identityError = checkServerIdentity(domain, peer);
    if (identityError !== undefined) return { valid: false, reason: identityError.message };
    return { valid: true, reason: 'valid' };
  }

  /** Null when `leaf`, through the certificates the peer sent, is issued by a trusted CA and every link is in date. */
  verifyChain(leaf: PeerCertificate & { issuerCertificate?: PeerCertificate }): string | null {
    const presented: X509Certificate[] = [];
    let c: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = leaf;
    const seen = new Set<string>();
    while (c !== undefined && c.raw !== undefined && presented.length < 10) {
      const cert = new X509Certificate(c.raw);
      if (seen.has(cert.fingerprint256)) break;
      seen.add(cert.fingerprint256);
      presented.push(cert);
      c = c.issuerCertificate as (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined;
    }
    const now = Date.now();
    const inDate = (x: X509Certificate): boolean => Date.parse(x.validFrom) <= now && now <= Date.parse(x.validTo);
    let cur = presented[0]!;
    for (let depth = 0; depth < 10; depth++) {
      if (!inDate(cur)) return `certificate ${cur.subject.replace(/\n/g, ', ')} is expired or not yet valid`;
      if (this.anchorPrints.has(cur.fingerprint256)) return null;
      for (const a of this.anchors) {
        if (cur.checkIssued(a) && cur.verify(a.publicKey)) return inDate(a) ? null : 'the issuing CA certificate is expired';
      }
      const next = presented.find((p) => p !== cur && p.ca && cur.checkIssued(p) && cur.verify(p.publicKey));
      if (next === undefined) return 'certificate not issued by a trusted CA';
      cur = next;
    }
    return 'certificate chain too long';
  }
}
