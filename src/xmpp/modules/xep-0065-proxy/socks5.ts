import type { Socket } from 'node:net';

/** RFC 1928 reply codes sori uses. */
export const REP = { succeeded: 0x00, generalFailure: 0x01, notAllowed: 0x02, commandNotSupported: 0x07, addressTypeNotSupported: 0x08 } as const;

const VERSION = 0x05;
const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_DOMAIN = 0x03;
/** XEP-0065 §5.3.2: DST.ADDR is a hex SHA-1, 40 characters. */
const DIGEST = /^[0-9a-f]{40}$/;

export class Socks5Error extends Error {
  constructor(
    message: string,
    readonly reply: number | null,
  ) {
    super(message);
  }
}

/**
 * The server side of the SOCKS5 handshake as XEP-0065 uses it (RFC 1928:
 * no authentication, CONNECT to a domain name that is the stream's digest,
 * port 0). Bytes arrive in any split; `feed` returns what is still to
 * come, and the digest once the CONNECT request is complete. Anything else
 * is a Socks5Error, with the reply to send before closing (null: none).
 */
export class Socks5Handshake {
  private buffer: Buffer = Buffer.alloc(0);
  private greeted = false;

  constructor(private readonly socket: Pick<Socket, 'write'>) {}

  /** The digest once the CONNECT request is in (and answered), else null. Bytes after it are returned in `rest`. */
  feed(chunk: Buffer): { digest: string; rest: Buffer } | null {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (!this.greeted) {
      // VER NMETHODS METHODS...
      if (this.buffer.length < 2) return null;
      if (this.buffer[0] !== VERSION) throw new Socks5Error('not SOCKS version 5', null);
      const end = 2 + this.buffer[1]!;
      if (this.buffer.length < end) return null;
      const methods = this.buffer.subarray(2, end);
      this.buffer = this.buffer.subarray(end);
      if (!methods.includes(NO_AUTH)) {
        this.socket.write(Buffer.from([VERSION, NO_ACCEPTABLE_METHOD]));
        throw new Socks5Error('the client offers no method without authentication', null);
      }
      this.socket.write(Buffer.from([VERSION, NO_AUTH]));
      this.greeted = true;
    }
    // VER CMD RSV ATYP LEN ADDR PORT(2)
    if (this.buffer.length < 5) return null;
    if (this.buffer[0] !== VERSION) throw new Socks5Error('not SOCKS version 5', REP.generalFailure);
    if (this.buffer[1] !== CMD_CONNECT) throw new Socks5Error('only CONNECT is supported', REP.commandNotSupported);
    if (this.buffer[3] !== ATYP_DOMAIN) throw new Socks5Error('the address must be the stream digest, as a domain name', REP.addressTypeNotSupported);
    const length = this.buffer[4]!;
    const end = 5 + length + 2;
    if (this.buffer.length < end) return null;
    const digest = this.buffer.subarray(5, 5 + length).toString('latin1');
    const port = this.buffer.readUInt16BE(5 + length);
    if (!DIGEST.test(digest) || port !== 0) throw new Socks5Error('the address is not a stream digest on port 0', REP.notAllowed);
    const rest = this.buffer.subarray(end);
    this.buffer = Buffer.alloc(0);
    return { digest, rest };
  }
}

/** RFC 1928 §6 reply; XEP-0065 §5.3.2: BND.ADDR and BND.PORT echo the request. */
export function connectReply(rep: number, digest: string): Buffer {
  const addr = Buffer.from(digest, 'latin1');
  return Buffer.concat([Buffer.from([VERSION, rep, 0x00, ATYP_DOMAIN, addr.length]), addr, Buffer.from([0, 0])]);
}
