import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from '../../util/log.js';
import { randomHex } from '../../util/random-token.js';
import type { XmlElement } from '../../util/xml.js';
import type { RouteEvent } from '../events.js';
import type { Server } from '../server.js';
import { serverTlsOptions, type TlsCredentials } from '../transport/certificate.js';
import type { DialbackVerdict, S2sAuthMethod, S2sContext } from './context.js';
import { dialbackKey } from './dialback.js';
import { S2sInbound } from './inbound.js';
import { S2sOutbound } from './outbound.js';
import { S2sTrust } from './trust.js';

/** Our ping ids: this prefix, 12 hex digits, '.', the node that waits for the answer. */
const PING_ID_PREFIX = 's2s-ping-';
/** Cluster: a ping's answer came in at another node than the one that sent it. */
const PING_ANSWERED_TOPIC = 's2s/ping-answered';

export { dialbackKey } from './dialback.js';
export type { S2sAuthMethod } from './context.js';

/** One authentication of a domain pair, kept for tests and operators (the last 1,000). */
export interface S2sAuthRecord {
  direction: 'inbound' | 'outbound';
  local: string;
  remote: string;
  method: S2sAuthMethod;
  at: number;
}

export interface S2sStats {
  inbound: Record<S2sAuthMethod, number>;
  outbound: Record<S2sAuthMethod, number>;
  /** Stream errors sent for stanzas a peer was not entitled to send, by condition. */
  refused: Record<string, number>;
}

/**
 * Federation (RFC 6120 server-to-server), as a subsystem beside the c2s
 * listeners rather than a module: it owns listeners and TLS credentials,
 * which the module context does not hand out, and it is the router's
 * `route/remote` claimant. Wired by `startSori` when `s2s.enabled` is set.
 *
 * Inbound: `S2sInbound` per accepted connection. Outbound: one `S2sOutbound`
 * per (local domain, remote domain), created on the first stanza and dropped
 * when its stream ends; it also carries dialback verifications.
 */
export class S2sService implements S2sContext {
  readonly log: Logger;
  readonly config: Server['config']['s2s'];
  readonly trust: S2sTrust;
  readonly limits;
  readonly pingAfterMs: number;
  readonly idleLimit: ReadonlyMap<string, number>;
  readonly stats: S2sStats = { inbound: { external: 0, dialback: 0 }, outbound: { external: 0, dialback: 0 }, refused: {} };
  readonly authLog: S2sAuthRecord[] = [];
  /** Bound ports: s2s, s2s-tls. */
  readonly ports: Record<string, number> = {};
  private readonly secret: string;
  private readonly outbound = new Map<string, S2sOutbound>();
  private readonly inbound = new Set<S2sInbound>();
  private readonly listeners: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly pings = new Map<string, () => void>();
  private readonly undo: (() => void)[] = [];

  constructor(
    readonly server: Server,
    private readonly tls: TlsCredentials,
  ) {
    this.log = server.log.child('s2s');
    this.config = server.config.s2s;
    this.trust = S2sTrust.fromFiles(this.config.ca, server.config.configDir);
    const c2s = server.config.c2s;
    this.limits = { maxStanzaSize: this.config.maxStanzaSize, maxDepth: c2s.maxDepth, maxAttributes: c2s.maxAttributes };
    this.idleLimit = new Map([['idle-seconds', this.config.idleTimeoutSeconds]]);
    // The same on every node: a peer may verify a key (XEP-0220 §2.1.2) with another node than the one that made it.
    this.secret = this.config.dialbackSecret ?? server.secretKey('xep-0185 dialback').toString('hex');
    // Ping answers come in on the peer's stream to us: with no listener for one, no ping could be answered.
    const listening = this.config.port !== 0 || this.config.directTlsPort !== 0;
    this.pingAfterMs = listening ? this.config.pingAfterSeconds * 1000 : 0;
  }

  /** Read per stream: a reloaded certificate (SIGHUP) reaches the next connection. */
  get tlsContext(): TlsCredentials['context'] {
    return this.tls.context;
  }

  async start(opts: { ephemeral?: boolean } = {}): Promise<void> {
    const host = this.config.bind ?? this.server.config.server.bind;
    const port = (p: number): number => (opts.ephemeral ? 0 : p);
    const bind = async (name: string, srv: NetServer, p: number): Promise<void> => {
      srv.on('connection', (s: Socket) => {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
      });
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ port: port(p), host, backlog: 1024 }, () => resolve());
      });
      this.listeners.push(srv);
      this.ports[name] = (srv.address() as AddressInfo).port;
      this.log.info(`${name} listening on ${host}:${this.ports[name]}`);
    };
    if (this.config.port) await bind('s2s', createNetServer((socket) => this.accept(socket)), this.config.port);
    if (this.config.directTlsPort) {
      const srv = createTlsServer({ ...serverTlsOptions, cert: this.tls.cert, key: this.tls.key, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['xmpp-server'] }, (socket) => this.accept(socket));
      this.tls.onReplaced?.((c) => srv.setSecureContext({ ...serverTlsOptions, cert: c.cert, key: c.key }));
      srv.on('tlsClientError', () => {});
      await bind('s2s-tls', srv, this.config.directTlsPort);
    }
    // Last in the chain: modules (blocking, …) look at outbound stanzas first.
    this.undo.push(this.server.hooks.add('route/remote', (ev) => this.routeRemote(ev), -1000));
    this.undo.push(this.server.hooks.add('iq/host', (ev) => this.pingAnswered(ev.stanza), 1000));
    this.undo.push(this.server.onNodePost(PING_ANSWERED_TOPIC, (id) => this.pings.get(id)?.()));
  }

  private accept(socket: Socket): void {
    const s = new S2sInbound(this, socket, (gone) => this.inbound.delete(gone));
    this.inbound.add(s);
  }

  async stop(): Promise<void> {
    for (const undo of this.undo.splice(0)) undo();
    for (const o of [...this.outbound.values()]) o.close();
    for (const s of [...this.inbound]) s.close('system-shutdown', 'server shutting down');
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
    // Streams got their close; sockets that linger past it are cut.
    for (const s of this.sockets) s.destroy();
  }

  /** `route/remote`: a stanza from one of our domains to another server. */
  private routeRemote(ev: RouteEvent): boolean {
    const local = ev.from.domain;
    if (!this.server.servesDomain(local)) return false; // never relay between two foreign domains
    const stanza = ev.stanza;
    if (stanza.attrs.from === undefined) stanza.attrs.from = ev.from.full;
    if (stanza.attrs.to === undefined) stanza.attrs.to = ev.to.full;
    this.connection(local, ev.to.domain).send(stanza, ev.from);
    return true;
  }

  private connection(local: string, remote: string): S2sOutbound {
    const key = `${local} ${remote}`;
    let o = this.outbound.get(key);
    if (o === undefined) {
      let carrier: S2sOutbound | undefined;
      for (const other of this.outbound.values()) if (other.remote === remote && other.canCarry) carrier = other;
      o = new S2sOutbound(this, local, remote, (gone) => {
        if (this.outbound.get(key) === gone) this.outbound.delete(key);
      }, carrier);
      this.outbound.set(key, o);
    }
    return o;
  }

  expectPingAnswer(timeoutMs: number): { id: string; answered: Promise<boolean> } {
    const id = `${PING_ID_PREFIX}${randomHex(6)}.${this.server.nodeId}`;
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.pings.set(id, () => {
        clearTimeout(timer);
        this.pings.delete(id);
        resolve(true);
      });
    });
    return { id, answered };
  }

  /** `iq/host`: an answer (result or error) to one of our pings; in a cluster it may have come in here for another node. */
  private pingAnswered(iq: XmlElement): boolean {
    const id = iq.attrs.id;
    if ((iq.attrs.type !== 'result' && iq.attrs.type !== 'error') || id === undefined || !id.startsWith(PING_ID_PREFIX)) return false;
    const node = id.slice(PING_ID_PREFIX.length + 13);
    if (node === this.server.nodeId) this.pings.get(id)?.();
    else if (this.server.clustered) void this.server.nodePost(node, PING_ANSWERED_TOPIC, id);
    return true;
  }

  dialbackKey(receiving: string, originating: string, streamId: string): string {
    return dialbackKey(this.secret, receiving, originating, streamId);
  }

  verifyDialback(local: string, remote: string, streamId: string, key: string): Promise<DialbackVerdict> {
    return this.connection(local, remote).verify(streamId, key);
  }

  authenticated(direction: 'inbound' | 'outbound', local: string, remote: string, method: S2sAuthMethod): void {
    this.stats[direction][method]++;
    this.authLog.push({ direction, local, remote, method, at: Date.now() });
    if (this.authLog.length > 1000) this.authLog.shift();
    this.log.info(`s2s ${direction} ${direction === 'inbound' ? `${remote} → ${local}` : `${local} → ${remote}`} authenticated by ${method === 'external' ? 'SASL EXTERNAL' : 'dialback'}`);
  }

  refused(condition: string): void {
    this.stats.refused[condition] = (this.stats.refused[condition] ?? 0) + 1;
  }

  /** How the last authentication of this pair in this direction went, or null. */
  lastMethod(direction: 'inbound' | 'outbound', local: string, remote: string): S2sAuthMethod | null {
    for (let i = this.authLog.length - 1; i >= 0; i--) {
      const r = this.authLog[i]!;
      if (r.direction === direction && r.local === local && r.remote === remote) return r.method;
    }
    return null;
  }

  /** Open streams, for status output: outbound pairs and inbound authenticated pairs. */
  streams(): { outbound: { local: string; remote: string; ready: boolean; method: S2sAuthMethod | null; piggybacked: boolean }[]; inbound: string[][] } {
    return {
      outbound: [...this.outbound.values()].map((o) => ({ local: o.local, remote: o.remote, ready: o.ready, method: o.method, piggybacked: o.piggybacked })),
      inbound: [...this.inbound].map((s) => s.authenticatedPairs()),
    };
  }
}

/** Starts federation when `s2s.enabled`; null otherwise. */
export async function startS2s(server: Server, tls: TlsCredentials, opts: { ephemeral?: boolean } = {}): Promise<S2sService | null> {
  if (!server.config.s2s.enabled) return null;
  const s2s = new S2sService(server, tls);
  await s2s.start(opts);
  return s2s;
}
