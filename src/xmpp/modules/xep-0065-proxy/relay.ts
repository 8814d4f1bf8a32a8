import type { Socket } from 'node:net';
import type { Logger } from '../../../util/log.js';
import { connectReply, REP, Socks5Error, Socks5Handshake } from './socks5.js';

export interface RelayLimits {
  /** How long a connection may wait for its peer and the activation. */
  pendingMs: number;
  /** Streams waiting for activation, at most. */
  maxPending: number;
  /** An activated stream with no bytes either way for this long is closed. */
  idleMs: number;
  /** Most bytes relayed per second in each direction of a stream; 0: no limit. */
  bytesPerSecond: number;
}

/** Connections of one stream (one digest) until the initiator activates it. */
interface PendingStream {
  sockets: Socket[];
  timer: NodeJS.Timeout;
}

/**
 * Copies what `from` reads to `to`, pausing `from` while `to` cannot take
 * more and while the direction is over its rate (a token bucket of one
 * second), then ends `to` after the last byte.
 */
function forward(from: Socket, to: Socket, bytesPerSecond: number): void {
  let allowance = bytesPerSecond;
  let refilled = Date.now();
  let full = false;
  let throttle: NodeJS.Timeout | null = null;
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      full = true;
      from.pause();
    }
    if (bytesPerSecond === 0) return;
    const now = Date.now();
    allowance = Math.min(bytesPerSecond, allowance + ((now - refilled) * bytesPerSecond) / 1000) - chunk.length;
    refilled = now;
    if (allowance < 0 && throttle === null) {
      from.pause();
      throttle = setTimeout(() => {
        throttle = null;
        if (!full) from.resume();
      }, Math.ceil((-allowance * 1000) / bytesPerSecond));
    }
  });
  to.on('drain', () => {
    full = false;
    if (throttle === null) from.resume();
  });
  from.once('end', () => to.end());
  from.once('close', () => {
    if (throttle !== null) clearTimeout(throttle);
  });
  from.resume();
}

export type Activation = 'activated' | 'no-stream' | 'one-side';

/**
 * The proxy's byte side (XEP-0065 §6): connections that have given the same
 * stream digest in their SOCKS5 CONNECT are held, paused, until the
 * initiator activates the stream in-band; from then on whatever one sends,
 * the other receives. A third connection for a digest is refused, so no one
 * can join a stream between two others even knowing its digest.
 */
export class Relay {
  private readonly pending = new Map<string, PendingStream>();
  private readonly sockets = new Set<Socket>();
  private relayed = 0;

  constructor(
    private readonly limits: RelayLimits,
    private readonly log: Logger,
  ) {}

  /** Streams activated and still open. */
  get activeStreams(): number {
    return this.relayed;
  }

  get pendingStreams(): number {
    return this.pending.size;
  }

  /** Takes a new TCP connection through the SOCKS5 handshake. */
  accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    const handshake = new Socks5Handshake(socket);
    // A connection that never completes its handshake is not held longer than one waiting for its peer.
    const deadline = setTimeout(() => socket.destroy(), this.limits.pendingMs);
    socket.on('close', () => clearTimeout(deadline));
    const onData = (chunk: Buffer): void => {
      let done: { digest: string; rest: Buffer } | null;
      try {
        done = handshake.feed(chunk);
      } catch (e) {
        // Whatever a peer sends ends its own connection, never the process.
        if (e instanceof Socks5Error && e.reply !== null) socket.end(connectReply(e.reply, ''));
        else socket.end();
        this.log.debug(`proxy65: refused a connection: ${(e as Error).message}`);
        return;
      }
      if (done === null) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(deadline);
      if (done.rest.length > 0) socket.unshift(done.rest);
      this.join(socket, done.digest);
    };
    socket.on('data', onData);
  }

  private join(socket: Socket, digest: string): void {
    let stream = this.pending.get(digest);
    if (stream === undefined) {
      if (this.pending.size >= this.limits.maxPending) {
        socket.end(connectReply(REP.generalFailure, digest));
        return;
      }
      const timer = setTimeout(() => this.expire(digest), this.limits.pendingMs);
      stream = { sockets: [], timer };
      this.pending.set(digest, stream);
    } else if (stream.sockets.length >= 2) {
      socket.end(connectReply(REP.notAllowed, digest));
      return;
    }
    const waiting = stream;
    waiting.sockets.push(socket);
    socket.write(connectReply(REP.succeeded, digest));
    socket.once('close', () => {
      const i = waiting.sockets.indexOf(socket);
      if (i < 0 || this.pending.get(digest) !== waiting) return;
      waiting.sockets.splice(i, 1);
      if (waiting.sockets.length === 0) {
        clearTimeout(waiting.timer);
        this.pending.delete(digest);
      }
    });
  }

  private expire(digest: string): void {
    const stream = this.pending.get(digest);
    if (stream === undefined) return;
    this.pending.delete(digest);
    for (const s of stream.sockets) s.destroy();
  }

  /** §6.3.4: joins the stream's two connections, if both are there. */
  activate(digest: string): Activation {
    const stream = this.pending.get(digest);
    if (stream === undefined) return 'no-stream';
    if (stream.sockets.length < 2) return 'one-side';
    clearTimeout(stream.timer);
    this.pending.delete(digest);
    const [a, b] = stream.sockets as [Socket, Socket];
    this.relayed++;
    let closed = 0;
    const idle = (): void => {
      a.destroy();
      b.destroy();
    };
    for (const [s, other] of [[a, b], [b, a]] as const) {
      s.setTimeout(this.limits.idleMs, idle);
      // One side gone: the other still gets what was already relayed to it, then the end.
      s.once('close', () => {
        other.end();
        if (++closed === 2) this.relayed--;
      });
    }
    forward(a, b, this.limits.bytesPerSecond);
    forward(b, a, this.limits.bytesPerSecond);
    return 'activated';
  }

  /** Closes every connection (the module stopping). */
  close(): void {
    for (const stream of this.pending.values()) clearTimeout(stream.timer);
    this.pending.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}
