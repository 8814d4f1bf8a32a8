import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** What channel binding reads from a server-side TLS connection, whichever TLS runs it (Node's or rustls). */
export interface TlsChannel {
  /** 'TLSv1.3', 'TLSv1.2', … once negotiated. */
  protocol(): string | null;
  /** RFC 5705 exporter output for `label`, with an empty context. */
  exportKeyingMaterial(length: number, label: string): Buffer;
  /** The client's Finished message (tls-unique); absent where the TLS does not expose it (rustls). */
  peerFinished?(): Buffer | null;
  /** RFC 5929 §4.1: the hash of the certificate this connection was made with. */
  serverEndPoint(): Buffer | null;
}

/**
 * Channel-binding data for SCRAM -PLUS on a server-side TLS connection.
 * tls-exporter (RFC 9266) on TLS 1.3, tls-unique (RFC 5929) on TLS 1.2 and
 * below, where it is defined and the TLS exposes it. tls-server-end-point is
 * offered on both.
 */
export function channelBindingTypes(tls: TlsChannel): string[] {
  const version = tls.protocol();
  if (version === 'TLSv1.3') return ['tls-exporter', 'tls-server-end-point'];
  if (version === 'TLSv1.2') return tls.peerFinished === undefined ? ['tls-server-end-point'] : ['tls-unique', 'tls-server-end-point'];
  return [];
}

export function channelBinding(tls: TlsChannel, type: string): Buffer | null {
  switch (type) {
    case 'tls-exporter':
      return tls.protocol() === 'TLSv1.3' ? tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding') : null;
    case 'tls-unique':
      // The first Finished message of the handshake: the client's, in a full handshake.
      return tls.protocol() === 'TLSv1.2' && tls.peerFinished !== undefined ? tls.peerFinished() : null;
    case 'tls-server-end-point':
      return tls.protocol() === null ? null : tls.serverEndPoint();
    default:
      return null;
  }
}

/** RFC 5929 §4.1: the certificate's own hash, SHA-256 for MD5/SHA-1 ones; sori's certificates use SHA-256. */
export function certificateEndPoint(der: Buffer): Buffer {
  return createHash('sha256').update(der).digest();
}

const NO_CONTEXT = Buffer.alloc(0);

/** Node's TLS socket seen as a TlsChannel. */
export function nodeTlsChannel(socket: TLSSocket): TlsChannel {
  return {
    protocol: () => socket.getProtocol(),
    exportKeyingMaterial: (length, label) => socket.exportKeyingMaterial(length, label, NO_CONTEXT),
    peerFinished: () => socket.getPeerFinished() ?? null,
    serverEndPoint: () => {
      const cert = socket.getCertificate();
      return cert === null || !('raw' in cert) ? null : certificateEndPoint(cert.raw);
    },
  };
}
