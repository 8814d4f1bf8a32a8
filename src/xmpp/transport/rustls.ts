import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SecureContext } from 'node:tls';
import type { Logger } from '../../util/log.js';
import type { TlsCredentials } from './certificate.js';
import { certificateEndPoint, type TlsChannel } from './channel-binding.js';

/** What TLS runs on for a client connection: Node's TLS with this context, or rustls. */
export type ClientTlsContext = SecureContext | RustlsContext;

/**
 * TLS for client connections on rustls (native/tls, built by
 * scripts/build-native.sh at `npm install`). An idle TLS session in Node
 * holds ~27 KiB on Node 20's OpenSSL 3.0 and 15–23 KiB more on Node 22/24's
 * OpenSSL 3.5; on rustls it holds ~12 KiB on every Node (docs/performance.md).
 * The TCP socket stays a plain one and bytes pass through the native session
 * on the event loop, as Node's TLS also does.
 */

/** Where scripts/build-native.sh puts the addon; the same path from src/ and from dist/. */
export const ADDON_PATH = fileURLToPath(new URL('../../../native/tls/sori_tls.node', import.meta.url));

/** What `receive` found, as bits (native/tls/src/lib.rs exports the same, and a test checks they agree). */
export const TLS_PLAIN = 1;
export const TLS_SEND = 2;
export const TLS_HANDSHAKE_DONE = 4;
export const TLS_CLOSED = 8;
export const TLS_FAILED = 16;

/** One connection's TLS state (native). */
export interface RustlsSession {
  /** Bytes read from the socket; returns TLS_* bits. */
  receive(cipher: Buffer): number;
  /** Application data the last receive decrypted (TLS_PLAIN). */
  takePlain(): Buffer | null;
  /** TLS bytes to write to the socket (TLS_SEND). */
  takeSend(): Buffer | null;
  /** Why the connection failed (TLS_FAILED). */
  failure(): string | null;
  /** Encrypts application data: the bytes to write to the socket. */
  send(plain: string): Buffer | null;
  /** close_notify, to write before ending the socket. */
  close(): Buffer | null;
  exportKeyingMaterial(label: string, length: number, context: Buffer): Buffer;
  protocol(): string | null;
}

export interface Addon {
  PLAIN: number;
  SEND: number;
  HANDSHAKE_DONE: number;
  CLOSED: number;
  FAILED: number;
  createServerConfig(cert: Buffer, key: Buffer, alpn: string[]): object;
  TlsServerSession: new (config: object) => RustlsSession;
}

let loaded: Addon | string | undefined;

/** The addon, or why it cannot be had. */
export function loadRustls(): Addon | string {
  if (loaded !== undefined) return loaded;
  if (!existsSync(ADDON_PATH)) {
    loaded = `${ADDON_PATH} is not built: run \`npm run build:native\` (needs Rust's cargo, https://rustup.rs)`;
  } else {
    try {
      loaded = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    } catch (e) {
      loaded = `${ADDON_PATH} failed to load (${(e as Error).message}): rebuild it with \`npm run build:native\``;
    }
  }
  return loaded;
}

/** A certificate and key made into rustls's configuration; a reload makes a new one, and open sessions keep theirs. */
export class RustlsContext {
  private readonly config: object;
  /** RFC 5929 tls-server-end-point of its certificate. */
  readonly serverEndPoint: Buffer;

  constructor(private readonly addon: Addon, cert: string, key: string, alpn: readonly string[]) {
    // Throws on a key that does not match the certificate, before anything is replaced.
    this.config = addon.createServerConfig(Buffer.from(cert), Buffer.from(key), [...alpn]);
    this.serverEndPoint = certificateEndPoint(new X509Certificate(cert).raw);
  }

  session(): RustlsSession {
    return new this.addon.TlsServerSession(this.config);
  }
}

const NO_CONTEXT = Buffer.alloc(0);

/** A rustls session seen as a TlsChannel: no tls-unique (rustls does not expose the Finished messages). */
export function rustlsChannel(session: RustlsSession, context: RustlsContext): TlsChannel {
  return {
    protocol: () => session.protocol(),
    exportKeyingMaterial: (length, label) => session.exportKeyingMaterial(label, length, NO_CONTEXT),
    serverEndPoint: () => context.serverEndPoint,
  };
}

/**
 * The TLS contexts the c2s TCP listeners hand each new connection, per
 * `tls.engine`, following certificate reloads: STARTTLS's, and direct TLS's
 * with ALPN `xmpp-client` (XEP-0368). Without rustls both are Node's context
 * (direct TLS then runs on Node's TLS server, which does its own ALPN).
 */
export class ClientTls {
  private starttls: RustlsContext | null = null;
  private direct: RustlsContext | null = null;

  constructor(engine: string, private readonly credentials: TlsCredentials, log: Logger) {
    if (engine === 'node') return;
    const addon = loadRustls();
    if (typeof addon === 'string') {
      if (engine === 'rustls') throw new Error(`tls.engine is "rustls" but ${addon}`);
      log.warn(`client TLS runs on Node's TLS, which holds 2-4 times the memory per idle session: ${addon}`);
      return;
    }
    const make = (c: TlsCredentials): void => {
      this.starttls = new RustlsContext(addon, c.cert, c.key, []);
      this.direct = new RustlsContext(addon, c.cert, c.key, ['xmpp-client']);
    };
    make(credentials);
    credentials.onReplaced?.(make);
  }

  get engine(): 'rustls' | 'node' {
    return this.starttls === null ? 'node' : 'rustls';
  }

  /** For STARTTLS on a new connection. */
  forStartTls(): ClientTlsContext {
    return this.starttls ?? this.credentials.context;
  }

  /** For a new direct-TLS connection on a plain socket; null: direct TLS runs on Node's TLS server. */
  forDirectTls(): RustlsContext | null {
    return this.direct;
  }
}
