import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tryParseJid, type Jid } from '../../util/jid.js';
import type { XmlElement } from '../../util/xml.js';
import { StanzaError, errorReply, type StanzaErrorType } from '../errors.js';
import { keep, type DialbackVerdict, type OutboundStanza, type S2sAuthMethod, type S2sContext } from './context.js';
import { OutboundStream } from './outbound-stream.js';
import { resolveTargets, type S2sTarget } from './resolve.js';

interface PendingVerify {
  streamId: string;
  key: string;
  sent: boolean;
  resolve: (v: DialbackVerdict) => void;
  timer: NodeJS.Timeout;
}

const enum State {
  Connecting,
  Ready,
  Closed,
}

/**
 * Everything we send to one remote domain from one local domain (RFC 6120
 * §4.2 and §13.7.1.2: a stream is authenticated for one domain pair). Finds
 * the peer (static route, SRV, A/AAAA), holds stanzas in order while the
 * stream is set up, and bounces them to their senders if it cannot be. Also
 * carries our `<db:verify>` requests to that domain's authoritative server.
 *
 * When another of our domains already has a ready stream to the same remote
 * domain (a MUC service next to its host), the pair asks to ride on it with
 * dialback (XEP-0220 piggybacking) instead of opening a connection; if the
 * peer says no, it connects on its own.
 */
export class S2sOutbound {
  private state = State.Connecting;
  private queue: OutboundStanza[] = [];
  private stream: OutboundStream | null = null;
  private readonly verifies: PendingVerify[] = [];
  private readonly readyTimer: NodeJS.Timeout;
  method: S2sAuthMethod | null = null;
  /** Riding on another pair's stream (piggybacked), which this pair must never close. */
  private guest = false;

  constructor(
    private readonly ctx: S2sContext,
    readonly local: string,
    readonly remote: string,
    private readonly onGone: (o: S2sOutbound) => void,
    carrier?: S2sOutbound,
  ) {
    this.readyTimer = setTimeout(() => this.fail('remote-server-timeout', `no authenticated stream to ${remote} within ${ctx.config.connectTimeoutSeconds}s`, { streamError: 'connection-timeout' }), ctx.config.connectTimeoutSeconds * 1000);
    this.readyTimer.unref();
    if (carrier?.stream?.carry(this) === true) {
      this.guest = true;
      this.stream = carrier.stream;
    } else void this.connect();
  }

  get ready(): boolean {
    return this.state === State.Ready;
  }

  /** Whether another local domain may piggyback on this pair's stream: ready, its own connection, and the peer speaks dialback. */
  get canCarry(): boolean {
    return this.state === State.Ready && !this.guest && this.stream?.speaksDialback === true;
  }

  get piggybacked(): boolean {
    return this.guest;
  }

  /** The peer would not take this pair on the shared stream: connect on our own. */
  piggybackRefused(why: string): void {
    if (this.state !== State.Connecting) return;
    this.ctx.log.info(`s2s out ${this.local} → ${this.remote}: piggybacking refused (${why}), connecting on its own`);
    this.guest = false;
    this.stream = null;
    void this.connect();
  }

  /** Sends now when the stream is ready, else queues (in order) until it is. */
  send(stanza: XmlElement, from: Jid): void {
    if (this.state === State.Ready && this.stream !== null) {
      this.stream.sendStanza(stanza, from);
      return;
    }
    if (this.queue.length >= this.ctx.config.maxQueue) {
      this.bounce({ stanza, from }, new StanzaError('resource-constraint', `too many stanzas waiting for ${this.remote}`));
      return;
    }
    this.queue.push(keep(stanza, from));
  }

  /** XEP-0220 §2.2: asks the authoritative server whether `key` was issued for this stream id. */
  verify(streamId: string, key: string): Promise<DialbackVerdict> {
    if (this.state === State.Closed) return Promise.resolve('error');
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answerVerify(streamId, 'error'), this.ctx.config.connectTimeoutSeconds * 1000);
      timer.unref();
      this.verifies.push({ streamId, key, sent: false, resolve, timer });
      this.stream?.flushVerifies();
    });
  }

  /** Verify requests not yet written (the stream writes them once TLS is up). */
  unsentVerifies(): PendingVerify[] {
    return this.verifies.filter((v) => !v.sent);
  }

  answerVerify(streamId: string, verdict: DialbackVerdict): void {
    const i = this.verifies.findIndex((v) => v.streamId === streamId);
    if (i === -1) return;
    const [v] = this.verifies.splice(i, 1);
    clearTimeout(v!.timer);
    v!.resolve(verdict);
  }

  private async connect(): Promise<void> {
    let targets: S2sTarget[];
    try {
      targets = await resolveTargets(this.remote, this.ctx.config.hosts);
    } catch (e) {
      return this.fail('remote-server-not-found', `cannot resolve ${this.remote}: ${(e as Error).message}`);
    }
    if (targets.length === 0) return this.fail('remote-server-not-found', `${this.remote} offers no XMPP server service`);
    const errors: string[] = [];
    for (const t of targets) {
      if (this.state === State.Closed) return;
      try {
        const socket = await this.open(t);
        if ((this.state as State) === State.Closed) {
          socket.destroy();
          return;
        }
        this.ctx.log.debug(`s2s out ${this.local} → ${this.remote}: connected to ${t.host}:${t.port}${t.directTls ? ' (direct TLS)' : ''}`);
        this.stream = new OutboundStream(this.ctx, this, socket, t.directTls);
        return;
      } catch (e) {
        errors.push(`${t.host}:${t.port}: ${(e as Error).message}`);
      }
    }
    this.fail('remote-server-not-found', `cannot connect to ${this.remote} (${errors.join('; ')})`);
  }

  private open(t: S2sTarget): Promise<Socket | TLSSocket> {
    return new Promise((resolve, reject) => {
      const timeoutMs = this.ctx.config.connectTimeoutSeconds * 1000;
      const socket = t.directTls
        ? tlsConnect({ host: t.host, port: t.port, servername: this.remote, secureContext: this.ctx.tlsContext, rejectUnauthorized: false, ALPNProtocols: ['xmpp-server'] })
        : netConnect({ host: t.host, port: t.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('connect timed out'));
      }, timeoutMs);
      socket.once(t.directTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** The stream authenticated: send what waited, in order. */
  streamReady(method: S2sAuthMethod): void {
    if (this.state !== State.Connecting) return;
    this.state = State.Ready;
    this.method = method;
    clearTimeout(this.readyTimer);
    this.ctx.authenticated('outbound', this.local, this.remote, method);
    const queued = this.queue;
    this.queue = [];
    for (const q of queued) this.stream!.sendStanza(q.stanza, q.from);
  }

  /**
   * Gives up: queued stanzas go back to their senders with an error (RFC 6120
   * §8.3.3.16/17): remote-server-not-found while the peer cannot be resolved
   * or reached, remote-server-timeout once it answered and negotiation failed.
   */
  fail(condition: 'remote-server-not-found' | 'remote-server-timeout', text: string, opts: { errorType?: StanzaErrorType; streamError?: 'connection-timeout' } = {}): void {
    if (this.state === State.Closed) return;
    const wasReady = this.state === State.Ready;
    this.state = State.Closed;
    clearTimeout(this.readyTimer);
    if (!wasReady) this.ctx.log.info(`s2s out ${this.local} → ${this.remote} failed: ${text}`);
    const queued = this.queue;
    this.queue = [];
    for (const q of queued) this.bounce(q, new StanzaError(condition, text, opts.errorType));
    for (const v of [...this.verifies]) this.answerVerify(v.streamId, 'error');
    if (this.guest) this.stream?.drop(this);
    else this.stream?.close(opts.streamError);
    this.onGone(this);
  }

  /**
   * The ready stream died (no answer to a ping, the connection gone, a stream
   * error from the peer): what the peer may not have read goes back to its
   * senders, the stream is closed, with `streamError` unless null (the peer
   * already ended it with one of its own).
   */
  streamLost(unacknowledged: OutboundStanza[], text: string, streamError: 'connection-timeout' | null = 'connection-timeout'): void {
    this.queue = [...unacknowledged, ...this.queue];
    this.fail('remote-server-timeout', text, streamError === null ? {} : { streamError });
  }

  /** The stream ended (idle timeout, peer closed it, error); `peerAnswered`: the peer had opened its stream. */
  streamClosed(reason: string, peerAnswered: boolean): void {
    this.fail(peerAnswered ? 'remote-server-timeout' : 'remote-server-not-found', reason);
  }

  close(): void {
    this.fail('remote-server-not-found', 'server shutting down');
  }

  /** Returns a stanza to its sender with `error`; never an error or an iq result (RFC 6120 §8.3.1, §8.2.3). */
  bounce(q: OutboundStanza, error: StanzaError): void {
    const s = q.stanza;
    if (s.attrs.type === 'error' || (s.name === 'iq' && s.attrs.type === 'result')) return;
    const reply = errorReply(s, error);
    reply.attrs.to = q.from.full;
    const from = tryParseJid(reply.attrs.from) ?? tryParseJid(this.remote)!;
    this.ctx.server.router.route(reply, from, null).catch((e: unknown) => this.ctx.log.error('s2s bounce failed', e));
  }
}
