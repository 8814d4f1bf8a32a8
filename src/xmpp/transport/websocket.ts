import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import { channelBinding, channelBindingTypes, nodeTlsChannel } from './channel-binding.js';
import { ignoreError, type Transport } from './transport.js';

/** RFC 7395: one XML element per text frame; no STARTTLS (TLS is the wss:// layer). */
export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly framed = true;
  readonly canStartTls = false;
  readonly remoteAddress: string;
  readonly secure: boolean;
  private readonly tlsSocket: TLSSocket | null;

  constructor(
    private readonly ws: WebSocket,
    req: IncomingMessage,
    consideredSecure: boolean,
  ) {
    this.remoteAddress = req.socket.remoteAddress ?? 'unknown';
    this.tlsSocket = req.socket instanceof TLSSocket ? req.socket : null;
    this.secure = this.tlsSocket !== null || consideredSecure;
  }

  start(onData: (chunk: string) => void, onClose: (hadError: boolean) => void): void {
    this.ws.on('message', (data, isBinary) => {
      // RFC 7395 §3.2: XMPP over WebSocket uses text frames only.
      if (isBinary) {
        this.ws.close(1003, 'binary frames are not allowed');
        return;
      }
      onData(data.toString());
    });
    // 'close' comes once; `on` spares the wrapper `once` would keep for the connection's life (~150 bytes).
    this.ws.on('close', () => onClose(false));
    // Errors end in 'close'; listening keeps them from crashing the process. One function for every connection.
    this.ws.on('error', ignoreError);
  }

  write(data: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data);
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('STARTTLS is not available over WebSocket'));
  }

  channelBindingTypes(): string[] {
    return this.tlsSocket !== null ? channelBindingTypes(nodeTlsChannel(this.tlsSocket)) : [];
  }

  channelBinding(type: string): Buffer | null {
    return this.tlsSocket !== null ? channelBinding(nodeTlsChannel(this.tlsSocket), type) : null;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  end(): void {
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}
