import type { Attrs } from '../../util/xml.js';

export type TransportKind = 'tcp' | 'websocket' | 'bosh';

/**
 * What a c2s stream needs from the bytes underneath it. TCP (with STARTTLS or
 * direct TLS), WebSocket and BOSH implement it; the stream logic is shared.
 */
export interface Transport {
  readonly kind: TransportKind;
  /** Encrypted, or declared secure by configuration (TLS ended at a proxy). */
  readonly secure: boolean;
  /** STARTTLS can be offered (plain TCP with a certificate available). */
  readonly canStartTls: boolean;
  readonly remoteAddress: string;
  /** WebSocket frames are whole documents (RFC 7395 §3.3.3); BOSH hands over whole elements too. */
  readonly framed: boolean;
  /**
   * Transports that carry the stream's opening and closing in their own
   * framing (BOSH's `<body/>` attributes) take them here; the others are
   * written the stream header and `</stream:stream>` or `<open/>`/`<close/>`.
   */
  openStream?(attrs: Attrs): void;
  closeStream?(): void;

  /** Starts delivering input: bytes (TCP) or text frames (WebSocket). */
  start(onData: (chunk: Buffer | string) => void, onClose: (hadError: boolean) => void): void;
  write(data: string): void;
  /** Upgrades to TLS in place; resolves once the handshake is done. */
  startTls(): Promise<void>;
  channelBindingTypes(): string[];
  channelBinding(type: string): Buffer | null;
  /** Stops reading for a while (rate limiting, backpressure). */
  pause(): void;
  resume(): void;
  /** Graceful close after pending writes. */
  end(): void;
  /** Immediate close. */
  destroy(): void;
}

/** The 'error' listener of every connection's socket: errors end in 'close', which the stream handles; listening keeps them from crashing the process. One function, not a closure per socket. */
export function ignoreError(): void {}
