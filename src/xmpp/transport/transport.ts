/**
 * What a c2s stream needs from the bytes underneath it. TCP (with STARTTLS or
 * direct TLS) and WebSocket implement it; the stream logic is shared.
 */
export interface Transport {
  readonly kind: 'tcp' | 'websocket';
  /** Encrypted, or declared secure by configuration (TLS ended at a proxy). */
  readonly secure: boolean;
  /** STARTTLS can be offered (plain TCP with a certificate available). */
  readonly canStartTls: boolean;
  readonly remoteAddress: string;
  /** WebSocket frames are whole documents (RFC 7395 §3.3.3). */
  readonly framed: boolean;

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
