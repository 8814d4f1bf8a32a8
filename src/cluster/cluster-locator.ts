/**
 * The router's view of a cluster (see docs/cluster.md, "Routing"): sessions on
 * this node first, then the shared session table; stanzas for a remote
 * resource travel over the node bus to the node that holds it.
 *
 * This file, with its parts node-requests.ts (modules' requests and posts),
 * remote-resource.ts and undeliverable-stanzas.ts, is the one place where the
 * cluster building blocks (session table, node bus) meet the XMPP core, so
 * unlike the rest of src/cluster/ it imports from src/xmpp/ (types, the XML
 * parser and stanza errors). The composition root (src/sori.ts) builds it;
 * the core only sees a `Locator`.
 *
 * What it keeps true:
 *  - the session table mirrors the sessions bound here (`session/bound`,
 *    `session/presence`, `session/closed`), and a full JID bound here that was
 *    held elsewhere is closed there with `conflict` (a "kick" over the bus);
 *  - a stanza that arrives for a session that has meanwhile gone, or that sat
 *    in the inbox of a node that died, is routed as for an unavailable
 *    resource (RFC 6121 §8.5.3.2.1): chat and normal messages go to the bare
 *    JID's rules, which end in offline storage, so nothing accepted is lost;
 *  - a dead node's sessions are announced unavailable by the one node that
 *    cleaned up after it (`cluster/sessions-lost`), to their contacts and to
 *    whoever they had sent directed presence to (the entries list them, since
 *    only the session table outlives the node), and this node's sessions
 *    are announced again after the cluster lost sight of them
 *    (`cluster/reconnected`).
 */
import { tryParseJid, type Jid } from '../util/jid.js';
import { createLogger, type Logger } from '../util/log.js';
import type { XmlElement } from '../util/xml.js';
import type { NodePostHandler, NodeRequestHandler } from '../xmpp/module.js';
import type { Locator, Resource } from '../xmpp/router/router.js';
import { localResource, type Server } from '../xmpp/server.js';
import { CARBONS_ENABLED, CLIENT_ACKS, DIRECTED_PRESENCE, type ClientSession } from '../xmpp/session.js';
import { parseXml } from '../xmpp/stream/parse-xml.js';
import type { HeldPayload, NodeBus } from './node-bus.js';
import { NodeRequests, type ModuleEnvelope } from './node-requests.js';
import { remoteResource } from './remote-resource.js';
import type { SessionEntry, SessionTable, SessionTableEvent } from './session-table.js';
import { UndeliverableStanzas } from './undeliverable-stanzas.js';

/**
 * What travels between nodes. `to` is the full JID of the target session (the
 * stanza may be addressed to the bare JID); modules' requests and posts are
 * NodeRequests' to handle.
 */
type Envelope = { t: 'stanza'; to: string; xml: string } | { t: 'kick'; jid: string; by: string } | ModuleEnvelope;

/** Counters for tests and bench/cluster.ts. */
export interface ClusterLocatorStats {
  /** Stanzas sent to another node. */
  forwarded: number;
  /** Forwards refused because the node was not alive (or Redis failed): treated as offline. */
  forwardFailed: number;
  /** Stanzas received from other nodes and written to a local session. */
  received: number;
  /** Stanzas received (or reclaimed from a dead node) whose session had gone: re-routed as for an unavailable resource. */
  rerouted: number;
  /** Sessions closed here because the same full JID was bound on another node. */
  kicked: number;
  /** Session-table lookups that failed (Redis unreachable): routed with this node's sessions only. */
  lookupsFailed: number;
}

export class ClusterLocator implements Locator {
  readonly stats: ClusterLocatorStats = { forwarded: 0, forwardFailed: 0, received: 0, rerouted: 0, kicked: 0, lookupsFailed: 0 };
  private readonly nodeId: string;
  private readonly log: Logger;
  /** session/closed chains started and not yet finished (for a graceful stop). */
  private closing = 0;
  private closingDrained: (() => void) | null = null;
  private lookupFailureLoggedAt = -Infinity;
  private readonly modules: NodeRequests;
  private readonly undeliverable: UndeliverableStanzas;

  constructor(
    private readonly server: Server,
    private readonly table: SessionTable,
    private readonly bus: NodeBus,
    log?: Logger,
  ) {
    this.nodeId = server.nodeId;
    this.log = log ?? createLogger(`cluster:${server.nodeId}`);
    this.modules = new NodeRequests(this.nodeId, (node, envelope, what) => this.send(node, envelope, what), this.log);
    this.undeliverable = new UndeliverableStanzas(server, (bare) => this.resources(bare));
    const stats = this.stats;
    server.metrics.counterFrom('sori_cluster_stanzas_total', 'Stanzas between cluster nodes: forwarded to another node, forward_failed (that node was not alive: handled as offline), received from one, rerouted (its session had gone).', () => [
      [['forwarded'], stats.forwarded], [['forward_failed'], stats.forwardFailed], [['received'], stats.received], [['rerouted'], stats.rerouted],
    ], ['outcome']);
    server.metrics.counterFrom('sori_cluster_lookups_failed_total', 'Session-table lookups that failed (Redis unreachable past cluster.redisWaitSeconds): the stanza was routed with this node\'s sessions only.', () => stats.lookupsFailed);
    server.metrics.counterFrom('sori_cluster_sessions_replaced_total', 'Sessions closed here because the same full JID was bound on another node.', () => stats.kicked);
    bus.onMessage((payload) => this.receive(payload, null));
    bus.onOrphaned(async (payload, deadNode) => {
      await this.receive(payload, deadNode);
    });
    table.onEvent((event) => this.tableEvent(event).catch((err: unknown) => this.log.error(`handling ${event.type} failed`, err)));
    const hooks = server.hooks;
    hooks.add('session/bound', ({ session }) => this.bound(session), 10_000);
    hooks.add('session/presence', ({ session }) => this.putLater(session));
    hooks.add('session/directed', ({ session }) => this.putLater(session));
    hooks.add('session/hibernated', ({ session }) => this.putLater(session));
    hooks.add('session/resumed', ({ session }) => this.putLater(session));
    // Highest priority: the entry goes before modules announce the departure.
    hooks.add('session/closed', ({ session }) => {
      this.closing++;
      return this.closed(session);
    }, 100_000);
    hooks.add('session/closed', () => {
      this.closedDone();
    }, -100_000);
  }

  // ---- Locator ----

  async resources(bare: string): Promise<Resource[]> {
    const local = this.server.sessions.ofAccount(bare).map(localResource);
    try {
      let remote = this.remoteEntries(await this.table.byBare(bare));
      // Redis may have come back empty: the other nodes' entries may be on their way back.
      if (remote.length === 0 && (await this.table.settled())) remote = this.remoteEntries(await this.table.byBare(bare));
      return [...local, ...remote.map(remoteResource)];
    } catch (err) {
      this.tableUnavailable(err);
      return local;
    }
  }

  async resource(full: string): Promise<Resource | null> {
    const s = this.server.sessions.get(full);
    if (s !== undefined) return localResource(s);
    try {
      let e = this.remoteEntries([await this.table.get(full)])[0];
      if (e === undefined && (await this.table.settled())) e = this.remoteEntries([await this.table.get(full)])[0];
      return e === undefined ? null : remoteResource(e);
    } catch (err) {
      this.tableUnavailable(err);
      return null;
    }
  }

  /**
   * A lookup the session table could not answer (Redis unreachable past its wait): the router goes on with
   * the sessions of this node, as if the account had none elsewhere, so a message ends in offline storage
   * rather than holding its sender's stream until Redis is back. Logged once a minute at most.
   */
  private tableUnavailable(err: unknown): void {
    this.stats.lookupsFailed++;
    const now = Date.now();
    if (now - this.lookupFailureLoggedAt < 60_000) return;
    this.lookupFailureLoggedAt = now;
    this.log.warn(`session table unavailable: routing with this node's sessions only (${this.stats.lookupsFailed} lookups failed so far)`, err);
  }

  /**
   * Entries of sessions on other nodes. An entry naming this node without a local session is
   * stale (the session is closing), and one for a JID also bound here is this node's to answer.
   */
  private remoteEntries(entries: ReadonlyArray<SessionEntry | undefined>): SessionEntry[] {
    return entries.filter((e): e is SessionEntry => e !== undefined && e.node !== this.nodeId && this.server.sessions.get(e.jid) === undefined);
  }

  async forward(resource: Resource, stanza: XmlElement): Promise<boolean> {
    if (resource.node === null || resource.node === this.nodeId) return false;
    // Not sent: the router treats the resource as unavailable.
    const sent = await this.send(resource.node, { t: 'stanza', to: resource.full, xml: stanza.toString() }, `forwarding to ${resource.full}`);
    if (sent) this.stats.forwarded++;
    else this.stats.forwardFailed++;
    return sent;
  }

  accountExists(jid: Jid): Promise<boolean> {
    return this.server.accounts.exists(jid);
  }

  request(node: string, topic: string, body: string, timeoutMs: number): Promise<string | null> {
    return this.modules.request(node, topic, body, timeoutMs);
  }

  answer(topic: string, handler: NodeRequestHandler): () => void {
    return this.modules.answer(topic, handler);
  }

  async placement(key: string, claim: boolean): Promise<string | null> {
    if (claim) return this.table.claim(key, this.nodeId);
    const holder = await this.table.holder(key);
    // Just after Redis came back its holder may have yet to write it back (a room someone is leaving).
    if (holder === undefined && (await this.table.settled())) return (await this.table.holder(key)) ?? null;
    return holder ?? null;
  }

  releasePlacement(key: string): Promise<void> {
    return this.table.release(key, this.nodeId);
  }

  post(node: string, topic: string, body: string): Promise<boolean> {
    return this.modules.post(node, topic, body);
  }

  onPost(topic: string, handler: NodePostHandler): () => void {
    return this.modules.onPost(topic, handler);
  }

  nodes(): Promise<string[]> {
    return this.table.nodes();
  }

  /** Queues an envelope for `node`; false when the node is not alive or the bus failed (logged as `what`). */
  private async send(node: string, envelope: Envelope, what: string): Promise<boolean> {
    try {
      return await this.bus.send(node, JSON.stringify(envelope));
    } catch (err) {
      this.log.warn(`${what} to node ${node} failed`, err);
      return false;
    }
  }

  // ---- graceful stop ----

  /**
   * Closes every local session (Server.endSessionsForShutdown: system-shutdown,
   * or see-other-host when the drain named a redirect) and waits until their
   * session/closed handlers have run: table entries removed, unavailable
   * presence sent. The bus keeps reading meanwhile, so stanzas still
   * arriving are re-routed, not dropped. Then modules hear 'cluster/leaving'.
   */
  async closeSessions(reason: string, timeoutMs = 10_000): Promise<void> {
    this.server.endSessionsForShutdown(reason);
    const deadline = Date.now() + timeoutMs;
    // Hibernated sessions close without a connection; finish() runs on the next tick.
    while ((this.server.sessions.size > 0 || this.closing > 0) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.closingDrained = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
    if (this.closing > 0 || this.server.sessions.size > 0) this.log.warn(`stopping with ${this.server.sessions.size} sessions still closing`);
    // What lives on this node for the whole cluster (MUC rooms) moves while the bus still carries the goodbyes.
    // Bounded like the wait above: with Redis unreachable they would wait for it, and the node must still stop.
    const leaving = this.server.emit('cluster/leaving', {}).catch((err: unknown) => this.log.error('leaving the cluster: a module failed', err));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([leaving, new Promise<void>((resolve) => (timer = setTimeout(() => {
      this.log.warn('stopping before modules finished leaving the cluster');
      resolve();
    }, timeoutMs)))]);
    clearTimeout(timer);
  }

  // ---- session table upkeep ----

  private entry(session: ClientSession): SessionEntry {
    const directed = session.get(DIRECTED_PRESENCE);
    return {
      jid: session.jid.full,
      node: this.nodeId,
      priority: session.priority,
      presence: session.presence === null ? null : session.presence.toString(),
      interested: session.interested,
      // Read by other nodes: carbons are copied to this resource, a push is due while it sleeps.
      carbons: session.get(CARBONS_ENABLED) === true,
      hibernated: !session.connected,
      // Read by the node that cleans up should this one die: whoever had directed presence hears unavailable.
      ...(directed !== undefined && directed.size > 0 ? { directed: [...directed] } : {}),
    };
  }

  private async bound(session: ClientSession): Promise<void> {
    const full = session.jid.full;
    let previous: SessionEntry | undefined;
    try {
      previous = await this.table.bind(this.entry(session));
    } catch (err) {
      this.log.error(`session table: put ${full} failed`, err);
    }
    // RFC 6120 §7.7.2.2: the new session wins; the node holding the old one closes it with conflict.
    if (previous !== undefined && previous.node !== this.nodeId) {
      await this.send(previous.node, { t: 'kick', jid: full, by: this.nodeId }, `kick of ${full}`);
    }
  }

  private async putLater(session: ClientSession): Promise<void> {
    if (!session.open || this.server.sessions.get(session.jid.full) !== session) return;
    try {
      // Only while this node still holds the entry: a newer login elsewhere may have taken it since.
      await this.table.update(this.entry(session));
    } catch (err) {
      this.log.error(`session table: update of ${session.jid.full} failed`, err);
    }
  }

  private async closed(session: ClientSession): Promise<void> {
    // A newer local session under the same JID (replaced on this node) keeps its entry.
    if (this.server.sessions.get(session.jid.full) !== undefined) return;
    try {
      await this.table.remove(session.jid.full, this.nodeId);
    } catch (err) {
      this.log.error(`session table: remove ${session.jid.full} failed`, err);
    }
  }

  private closedDone(): void {
    if (this.closing > 0) this.closing--;
    if (this.closing === 0 && this.closingDrained !== null) {
      const resolve = this.closingDrained;
      this.closingDrained = null;
      resolve();
    }
  }

  private async tableEvent(event: SessionTableEvent): Promise<void> {
    if (event.type === 'node-dead') {
      this.undeliverable.forget(event.node);
      this.log.info(`node ${event.node} is dead: ${event.sessions.length} sessions lost`);
      const sessions = [];
      for (const e of event.sessions) {
        const jid = tryParseJid(e.jid);
        if (jid !== null) sessions.push({ jid, available: e.presence !== null, directed: e.directed ?? [] });
      }
      await this.server.emit('cluster/sessions-lost', { node: event.node, sessions });
      return;
    }
    // Reconnected: entries were written back, except those another node took over meanwhile; those sessions lost.
    for (const s of [...this.server.sessions.all()]) {
      const e = await this.table.get(s.jid.full);
      if (e !== undefined && e.node !== this.nodeId) await this.replaced(s, e.node);
    }
    await this.server.emit('cluster/reconnected', { declaredDead: event.declaredDead });
  }

  // ---- inbox ----

  /** An envelope from another node, or with `deadNode` set one that sat unhandled in the inbox of that dead node. */
  private async receive(payload: string, deadNode: string | null): Promise<HeldPayload | undefined> {
    const orphaned = deadNode !== null;
    const envelope = JSON.parse(payload) as Envelope;
    if (envelope.t === 'req' || envelope.t === 'res' || envelope.t === 'post') {
      await this.modules.receive(envelope, orphaned);
      return;
    }
    if (envelope.t === 'kick') {
      if (orphaned) return;
      const s = this.server.sessions.get(envelope.jid);
      if (s !== undefined) {
        this.stats.kicked++;
        await this.replaced(s, envelope.by);
      }
      return;
    }
    const stanza = parseXml(envelope.xml);
    const session = orphaned ? undefined : this.server.sessions.get(envelope.to);
    if (session !== undefined && session.open) {
      this.stats.received++;
      session.send(stanza);
      // Kept in the inbox until the client acknowledges it: should this node die first, it goes offline.
      const acks = session.get(CLIENT_ACKS);
      return acks === undefined ? undefined : { settled: acks.untilHandled() };
    }
    this.stats.rerouted++;
    await this.undeliverable.route(stanza, envelope.to, deadNode);
  }

  /** The session's full JID is now bound on `node`: closed with conflict, unless a module hands it over there. */
  private async replaced(session: ClientSession, node: string): Promise<void> {
    if (!(await this.server.hooks.fireAsync('session/replaced', { session, node }))) {
      session.close('conflict', 'replaced by a new connection with the same resource');
      return;
    }
    // Gone from this node without 'session/closed': the entry it wrote is no longer its to write back after a Redis restart.
    await this.closed(session);
  }
}
