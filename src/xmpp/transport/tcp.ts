import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { channelBinding, channelBindingTypes } from './channel-binding.js';
import { ignoreError, type Transport } from './transport.js';


/** A c2s TCP connection: plain with STARTTLS, or TLS from the first byte (XEP-0368). */
export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly framed = false;
  readonly remoteAddress: string;
  private socket: Socket | TLSSocket;
  private onData: ((chunk: Buffer) => void) | null = null;
  private onClose: ((hadError: boolean) => void) | null = null;
  /** The socket corked by the first write of this tick, uncorked when the tick ends. */
  private corked: Socket | null = null;
  /** Bound rather than an arrow: see the parser callbacks in c2s.ts. */
  private readonly uncork = this.flush.bind(this);

  constructor(
    socket: Socket | TLSSocket,
    private readonly tls: SecureContext | null,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    socket.setNoDelay(true);
  }

  get secure(): boolean {
    return this.socket instanceof TLSSocket;
  }

  get canStartTls(): boolean {
    return this.tls !== null && !this.secure;
  }

  start(onData: (chunk: Buffer) => void, onClose: (hadError: boolean) => void): void {
    this.onData = onData;
    this.onClose = onClose;
    this.listen(this.socket);
  }

  private listen(s: Socket): void {
    s.on('data', this.onData!);
    // 'close' comes once; `on` spares the per-socket wrapper `once` would make.
    s.on('close', this.onClose!);
    // Errors end in 'close'; listening keeps them from crashing the process.
    s.on('error', ignoreError);
  }

  /**
   * Writes of one tick leave as one writev: one TLS record and one syscall for
   * a stream header with its features, a MAM page, or a burst of offline
   * messages, instead of one per stanza.
   */
  write(data: string): void {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    if (this.corked === null) {
      this.corked = socket;
      socket.cork();
      process.nextTick(this.uncork);
    }
    socket.write(data);
  }

  private flush(): void {
    const socket = this.corked;
    this.corked = null;
    socket?.uncork();
  }

  startTls(): Promise<void> {
    if (this.tls === null) return Promise.reject(new Error('no certificate'));
    this.flush(); // <proceed/> goes out in the clear, before the handshake takes over the socket
    const raw = this.socket;
    raw.removeListener('data', this.onData!);
    raw.removeListener('close', this.onClose!);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.tls });
    this.socket = secure;
    this.listen(secure);
    // Only 'secure' is listened for, and that listener stays: a failed handshake ends in 'close', which the stream
    // already handles (the promise is then dropped with the connection). Taking an event's last listener off turns
    // the socket's listener table into a slow dictionary for the rest of the session, and a third 'error' or 'close'
    // listener grows their arrays: together ~0.8 KiB per idle session, measured.
    return new Promise((resolve) => secure.on('secure', resolve));
  }

  channelBindingTypes(): string[] {
    return this.socket instanceof TLSSocket ? channelBindingTypes(this.socket) : [];
  }

  channelBinding(type: string): Buffer | null {
    return this.socket instanceof TLSSocket ? channelBinding(this.socket, type) : null;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.flush();
    this.socket.end();
    // Do not wait forever for a peer that never closes its side.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
