import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/**
 * Channel-binding data for SCRAM -PLUS on a server-side TLS socket.
 * tls-exporter (RFC 9266) on TLS 1.3, tls-unique (RFC 5929) on TLS 1.2 and
 * below, where it is defined. tls-server-end-point is offered on both.
 */
export function channelBindingTypes(socket: TLSSocket): string[] {
  const version = socket.getProtocol();
  if (version === 'TLSv1.3') return ['tls-exporter', 'tls-server-end-point'];
  if (version === 'TLSv1.2') return ['tls-unique', 'tls-server-end-point'];
  return [];
}

export function channelBinding(socket: TLSSocket, type: string): Buffer | null {
  switch (type) {
    case 'tls-exporter':
      return socket.getProtocol() === 'TLSv1.3' ? socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)) : null;
    case 'tls-unique':
      // The first Finished message of the handshake: the client's, in a full handshake.
      return socket.getProtocol() === 'TLSv1.2' ? (socket.getPeerFinished() ?? null) : null;
    case 'tls-server-end-point': {
      const cert = socket.getCertificate();
      if (cert === null || !('raw' in cert)) return null;
      // RFC 5929 §4.1: the certificate's own hash, SHA-256 for MD5/SHA-1 ones; sori's certificates use SHA-256.
      return createHash('sha256').update(cert.raw).digest();
    }
    default:
      return null;
  }
}
