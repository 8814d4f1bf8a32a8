import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { channelBinding, channelBindingTypes, nodeTlsChannel, type TlsChannel } from './channel-binding.js';
import { RustlsContext, rustlsChannel, TLS_FAILED, TLS_HANDSHAKE_DONE, TLS_PLAIN, TLS_SEND, TLS_CLOSED, type ClientTlsContext, type RustlsSession } from './rustls.js';
import { ignoreError, type Transport } from './transport.js';


/**
 * A c2s TCP connection: plain with STARTTLS, or TLS from the first byte
 * (XEP-0368). TLS is Node's (the socket becomes a TLSSocket) or rustls's
 * (the socket stays plain and bytes pass through `rustls`).
 */
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
  private rustls: RustlsSession | null = null;
  /** rustls: this tick's output, encrypted as one record run when the tick ends (as the cork does for Node's TLS). */
  private pendingPlain = '';
  private handshaken: (() => void) | null = null;

  /** `direct`: `tls` is a RustlsContext and TLS starts with the first byte. */
  constructor(
    socket: Socket | TLSSocket,
    private readonly tls: ClientTlsContext | null,
    direct = false,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    socket.setNoDelay(true);
    if (direct && tls instanceof RustlsContext) this.rustls = tls.session();
  }

  get secure(): boolean {
    return this.rustls !== null || this.socket instanceof TLSSocket;
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
    s.on('data', this.rustls === null ? this.onData! : this.receiveTls.bind(this));
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
    if (this.rustls !== null) {
      if (this.pendingPlain === '') process.nextTick(this.uncork);
      this.pendingPlain += data;
      return;
    }
    if (this.corked === null) {
      this.corked = socket;
      socket.cork();
      process.nextTick(this.uncork);
    }
    socket.write(data);
  }

  private flush(): void {
    if (this.pendingPlain !== '') this.sendTls();
    const socket = this.corked;
    this.corked = null;
    socket?.uncork();
  }

  private sendTls(): void {
    const plain = this.pendingPlain;
    this.pendingPlain = '';
    if (this.socket.destroyed) return;
    let cipher: Buffer | null;
    try {
      cipher = this.rustls!.send(plain);
    } catch {
      this.socket.destroy();
      return;
    }
    if (cipher) this.socket.write(cipher);
  }

  /** rustls: bytes from the socket, decrypted and handed on; handshake replies and alerts go straight back. */
  private receiveTls(chunk: Buffer): void {
    const tls = this.rustls!;
    const got = tls.receive(chunk);
    if (got & TLS_SEND) this.socket.write(tls.takeSend()!);
    if (got & TLS_FAILED) {
      // The alert (sent above) goes out first; the stream learns of it from 'close'.
      this.socket.end();
      this.socket.destroySoon();
      return;
    }
    if (got & TLS_HANDSHAKE_DONE && this.handshaken !== null) {
      this.handshaken();
      this.handshaken = null;
    }
    if (got & TLS_PLAIN) this.onData!(tls.takePlain()!);
    if (got & TLS_CLOSED) this.end();
  }

  startTls(): Promise<void> {
    if (this.tls === null) return Promise.reject(new Error('no certificate'));
    this.flush(); // <proceed/> goes out in the clear, before the handshake takes over the socket
    const raw = this.socket;
    raw.removeListener('data', this.onData!);
    if (this.tls instanceof RustlsContext) {
      this.rustls = this.tls.session();
      raw.on('data', this.receiveTls.bind(this));
      // A failed handshake ends in 'close', which the stream already handles (the promise is then dropped).
      return new Promise((resolve) => (this.handshaken = resolve));
    }
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
    const tls = this.channel();
    return tls === null ? [] : channelBindingTypes(tls);
  }

  channelBinding(type: string): Buffer | null {
    const tls = this.channel();
    return tls === null ? null : channelBinding(tls, type);
  }

  private channel(): TlsChannel | null {
    if (this.rustls !== null) return rustlsChannel(this.rustls, this.tls as RustlsContext);
    return this.socket instanceof TLSSocket ? nodeTlsChannel(this.socket) : null;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.flush();
    if (this.rustls !== null && this.socket.writable) {
      const notify = this.rustls.close();
      if (notify) this.socket.write(notify);
    }
    this.socket.end();
    // Do not wait forever for a peer that never closes its side.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
