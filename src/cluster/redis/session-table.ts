import { KeyLocks } from '../../util/key-locks.js';
import { createLogger, type Logger } from '../../util/log.js';
import type { SessionEntry, SessionTable, SessionTableEvent } from '../session-table.js';
import { connectRedis, redisClusterOptions, redisUnreachable, whenReady, type RedisClient, type RedisClusterOptions } from './connection.js';
import { splitFullJid } from '../../util/jid.js';
import { INVALIDATE_CHANNEL, NODES_KEY, nodeJidsKey, nodePlacementsKey, placementKey, sessionsKey } from './keys.js';
import { NodeLiveness } from './liveness.js';
import { bindEntry, claimPlacement, releasePlacement, removeIfOwner, restoreIfVacant, updateIfHeld } from './scripts.js';
import { SessionCache } from './session-cache.js';

export interface RedisSessionTableConfig {
  nodeId: string;
  redis?: Partial<RedisClusterOptions>;
  log?: Logger;
}

/** Cleanup of a dead node's other resources (its node-bus inbox), run while its claim is held. */
export type DeadNodeReclaimer = (deadNode: string) => Promise<void>;

/** How many per-entry scripts are in flight at once when restoring or cleaning up a whole node. */
const BATCH = 256;

/**
 * The session table in Redis (standalone or Cluster); see docs/cluster.md.
 *
 * `sori:{bare}:sessions` maps resource → JSON entry. `sori:node:{id}:jids`
 * lists what each node put, so that its entries can be found when it dies. The
 * set is written before the hash: a crash in between leaves a set member
 * without an entry (harmless), never an entry nobody can find. Members are
 * not removed when another node takes a JID over; cleanup deletes only
 * entries still owned by the dead node, so a stale member costs nothing.
 *
 * Placements (`claim`) work the same way: `sori:placement:{key}` names the
 * holder, `sori:node:{id}:placements` lists what each node claimed.
 *
 * The node keeps its own entries and placements in memory and writes them
 * back after a Redis restart or after having been declared dead; a placement
 * another node claimed meanwhile stays with that node.
 */
export class RedisSessionTable implements SessionTable {
  readonly nodeId: string;
  readonly cache: SessionCache;
  readonly liveness: NodeLiveness;
  private readonly options: RedisClusterOptions;
  private readonly log: Logger;
  private readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly owned = new Map<string, SessionEntry>();
  /** Placement keys this node holds. */
  private readonly held = new Set<string>();
  /**
   * Claims and releases of one key, one at a time: each is a write to the key and one to the node's set, in
   * two hash slots (no one script), and a release's removal from the set landing after a new claim's addition
   * would leave a held key unlisted, never released when this node dies.
   */
  private readonly placing = new KeyLocks();
  private readonly listeners: Array<(event: SessionTableEvent) => void | Promise<void>> = [];
  private readonly reclaimers: DeadNodeReclaimer[] = [];
  private started = false;
  private resyncing: Promise<void> | undefined = undefined;
  /**
   * Until then a lookup that finds nothing may miss entries another node has yet to write back after
   * Redis came back (empty, maybe): Infinity while disconnected, then `aliveTtlMs` past the reconnection,
   * time enough for every node to notice that its alive key lapsed (at its next heartbeat) and restore.
   */
  private unsettledUntil = 0;

  constructor(config: RedisSessionTableConfig) {
    this.nodeId = config.nodeId;
    this.options = redisClusterOptions(config.redis);
    this.log = config.log ?? createLogger(`cluster:${config.nodeId}`);
    this.cache = new SessionCache(this.options.cacheSize);
    this.client = connectRedis(this.options, `sori-sessions-${this.nodeId}`, { waitMs: this.options.waitMs });
    this.subscriber = connectRedis(this.options, `sori-invalidate-${this.nodeId}`, { waitMs: this.options.waitMs });
    this.liveness = new NodeLiveness(this.client, this.nodeId, this.options, {
      onLapsed: () => void this.resync('alive key lapsed'),
      onClaimed: (node) => this.cleanUpDeadNode(node),
    }, this.log);
    for (const c of [this.client, this.subscriber]) c.on('error', (err: Error) => this.log.debug(`redis: ${err.message}`));
    this.client.on('close', () => {
      if (this.started) this.unsettledUntil = Infinity;
    });
  }

  /** Adds cleanup to run on the one node that claims a dead node, before it emits node-dead. */
  addDeadNodeReclaimer(reclaimer: DeadNodeReclaimer): void {
    this.reclaimers.push(reclaimer);
  }

  onEvent(listener: (event: SessionTableEvent) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    await Promise.all([whenReady(this.client), whenReady(this.subscriber)]);
    this.subscriber.on('message', (_channel: string, bare: string) => this.cache.invalidate(bare));
    this.subscriber.on('close', () => this.cache.setEnabled(false));
    this.subscriber.on('ready', () => void this.subscribeInvalidations());
    await this.subscribeInvalidations();
    await this.liveness.register();
    // A previous run of this id declared dead: nothing of this run was undone.
    this.liveness.takeDeclaredDead();
    // Nothing is owned yet, so entries still held under this id belong to a previous run that died.
    await this.removeNodePlacements(this.nodeId);
    const leftovers = await this.removeNodeSessions(this.nodeId);
    if (leftovers.length > 0) void this.emit({ type: 'node-dead', node: this.nodeId, sessions: leftovers });
    this.client.on('ready', () => {
      this.unsettledUntil = Date.now() + this.options.aliveTtlMs;
      void this.resync('reconnected to redis');
    });
    this.liveness.startTimers();
    this.started = true;
  }

  async put(entry: SessionEntry): Promise<void> {
    const stored = { ...entry };
    if (entry.node === this.nodeId) this.owned.set(entry.jid, stored);
    const { bare, resource } = splitFullJid(entry.jid);
    await this.client.sadd(nodeJidsKey(entry.node), entry.jid);
    await this.client.hset(sessionsKey(bare), resource, JSON.stringify(stored));
    await this.invalidate(bare);
  }

  async bind(entry: SessionEntry): Promise<SessionEntry | undefined> {
    const stored = { ...entry };
    if (entry.node === this.nodeId) this.owned.set(entry.jid, stored);
    const { bare, resource } = splitFullJid(entry.jid);
    await this.client.sadd(nodeJidsKey(entry.node), entry.jid);
    const previous = await bindEntry.run(this.client, [sessionsKey(bare)], [resource, JSON.stringify(stored)]);
    await this.invalidate(bare);
    return typeof previous === 'string' ? (JSON.parse(previous) as SessionEntry) : undefined;
  }

  async update(entry: SessionEntry): Promise<boolean> {
    const stored = { ...entry };
    const { bare, resource } = splitFullJid(entry.jid);
    const written = (await updateIfHeld.run(this.client, [sessionsKey(bare)], [resource, JSON.stringify(stored), entry.node])) === 1;
    if (written) {
      if (entry.node === this.nodeId) this.owned.set(entry.jid, stored);
      await this.invalidate(bare);
    }
    return written;
  }

  async get(fullJid: string): Promise<SessionEntry | undefined> {
    const { bare, resource } = splitFullJid(fullJid);
    const cached = this.cache.lookup(bare);
    if (cached !== undefined) {
      const hit = cached.find((e) => e.jid === fullJid);
      return hit === undefined ? undefined : { ...hit };
    }
    const json = await this.client.hget(sessionsKey(bare), resource);
    return json === null ? undefined : (JSON.parse(json) as SessionEntry);
  }

  async byBare(bareJid: string): Promise<SessionEntry[]> {
    const cached = this.cache.lookup(bareJid);
    // Copies, so that a caller changing an entry cannot change the cache.
    if (cached !== undefined) return cached.map((e) => ({ ...e }));
    const token = this.cache.loadToken();
    const all = await this.client.hgetall(sessionsKey(bareJid));
    const sessions = Object.values(all).map((json) => JSON.parse(json) as SessionEntry);
    this.cache.store(bareJid, sessions, token);
    return sessions.map((e) => ({ ...e }));
  }

  async remove(fullJid: string, node: string): Promise<void> {
    if (this.owned.get(fullJid)?.node === node) this.owned.delete(fullJid);
    const { bare, resource } = splitFullJid(fullJid);
    const removed = await removeIfOwner.run(this.client, [sessionsKey(bare)], [resource, node]);
    await this.client.srem(nodeJidsKey(node), fullJid);
    if (removed) await this.invalidate(bare);
  }

  async claim(key: string, node: string): Promise<string> {
    // Just after Redis came back (empty, maybe) the key's holder may have yet to write its claim back:
    // claiming it now would start a second copy here (a room without its occupants), which the holder
    // then evicts. What this node held itself it writes back; there is nobody to wait for.
    if (Date.now() < this.unsettledUntil && !this.held.has(key)) {
      const holder = await this.holder(key);
      if (holder !== undefined) return holder;
      await this.settled();
    }
    return this.placing.with([key], () => this.claimNow(key, node));
  }

  async holder(key: string): Promise<string | undefined> {
    return (await this.client.get(placementKey(key))) ?? undefined;
  }

  release(key: string, node: string): Promise<void> {
    return this.placing.with([key], async () => {
      if (node === this.nodeId) this.held.delete(key);
      await releasePlacement.run(this.client, [placementKey(key)], [node]);
      await this.client.srem(nodePlacementsKey(node), key);
    });
  }

  async nodes(): Promise<string[]> {
    // The registry the dead-node check reads; this node is in it from start, but say so while Redis restarts empty.
    return [...new Set([this.nodeId, ...(await this.client.smembers(NODES_KEY))])];
  }

  async settled(): Promise<boolean> {
    if (Date.now() >= this.unsettledUntil) return false;
    // Once Redis is unreachable a second look would fail too: the caller goes on without it.
    while (this.started && Date.now() < this.unsettledUntil && !redisUnreachable(this.client)) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, this.unsettledUntil - Date.now()))));
    }
    return true;
  }

  async stop(): Promise<void> {
    const wasStarted = this.started;
    this.started = false;
    // Deleting the alive key lets a survivor clean up what is left (hibernated sessions, unread inbox) at once.
    await this.liveness.stop(wasStarted).catch((err: unknown) => this.log.warn('leaving the cluster failed', err));
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  /** Entries this node holds, as it would restore them. */
  ownedEntries(): SessionEntry[] {
    return [...this.owned.values()];
  }

  /** Resolves once every listener's promise has settled. */
  private async emit(event: SessionTableEvent): Promise<void> {
    const pending: Array<Promise<void>> = [];
    for (const listener of this.listeners) {
      try {
        const done = listener(event);
        if (done !== undefined) pending.push(done.catch((err: unknown) => this.log.error(`session table listener failed on ${event.type}`, err)));
      } catch (err) {
        this.log.error(`session table listener failed on ${event.type}`, err);
      }
    }
    await Promise.all(pending);
  }

  private async subscribeInvalidations(): Promise<void> {
    try {
      await this.subscriber.subscribe(INVALIDATE_CHANNEL);
      this.cache.setEnabled(true);
    } catch (err) {
      this.log.warn('subscribing to cache invalidations failed; cache bypassed', err);
    }
  }

  /** Drops `bare` here at once (read-your-writes), then on every node. */
  private async invalidate(bare: string): Promise<void> {
    this.cache.invalidate(bare);
    await this.client.publish(INVALIDATE_CHANNEL, bare);
  }

  /** Removes every entry still owned by `node`; returns them. */
  private async removeNodeSessions(node: string): Promise<SessionEntry[]> {
    const jids = await this.client.smembers(nodeJidsKey(node));
    const removed: SessionEntry[] = [];
    const bares = new Set<string>();
    for (let i = 0; i < jids.length; i += BATCH) {
      const results = await Promise.all(jids.slice(i, i + BATCH).map(async (jid) => {
        const { bare, resource } = splitFullJid(jid);
        const json = await removeIfOwner.run(this.client, [sessionsKey(bare)], [resource, node]);
        return typeof json === 'string' ? (JSON.parse(json) as SessionEntry) : undefined;
      }));
      for (const entry of results) {
        if (entry === undefined) continue;
        removed.push(entry);
        bares.add(splitFullJid(entry.jid).bare);
      }
    }
    await this.client.del(nodeJidsKey(node));
    await Promise.all([...bares].map((bare) => this.invalidate(bare)));
    return removed;
  }

  /** Releases every placement still held by `node`. */
  private async removeNodePlacements(node: string): Promise<void> {
    const keys = await this.client.smembers(nodePlacementsKey(node));
    for (let i = 0; i < keys.length; i += BATCH) {
      await Promise.all(keys.slice(i, i + BATCH).map((key) => releasePlacement.run(this.client, [placementKey(key)], [node])));
    }
    await this.client.del(nodePlacementsKey(node));
  }

  /** Every entry still owned by `node`, left in place. */
  private async nodeSessions(node: string): Promise<SessionEntry[]> {
    const jids = await this.client.smembers(nodeJidsKey(node));
    const owned: SessionEntry[] = [];
    for (let i = 0; i < jids.length; i += BATCH) {
      const results = await Promise.all(jids.slice(i, i + BATCH).map(async (jid) => {
        const { bare, resource } = splitFullJid(jid);
        const json = await this.client.hget(sessionsKey(bare), resource);
        return json === null ? undefined : (JSON.parse(json) as SessionEntry);
      }));
      for (const entry of results) if (entry !== undefined && entry.node === node) owned.push(entry);
    }
    return owned;
  }

  private async cleanUpDeadNode(node: string): Promise<void> {
    // Placements first: what the reclaimers hand on (the dead node's inbox) may need a new holder.
    await this.removeNodePlacements(node);
    // The entries go only after the reclaimers: a cleanup that fails half-way is retried (after claimTtlMs)
    // and must find them still there, or the dead node's users would never be announced unavailable.
    const sessions = await this.nodeSessions(node);
    for (const reclaim of this.reclaimers) await reclaim(node);
    await this.removeNodeSessions(node);
    // Awaited, so the node cannot come back (its heartbeat is refused until the claim is done) while the goodbyes
    // said in its name are still being routed: one landing after its hello again would undo it.
    await this.emit({ type: 'node-dead', node, sessions });
  }

  /** Registers again and writes back this node's entries; one run at a time. */
  private resync(reason: string): Promise<void> {
    if (!this.started) return Promise.resolve();
    this.resyncing ??= this.restoreOwned(reason).finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async restoreOwned(reason: string): Promise<void> {
    try {
      this.log.info(`restoring ${this.owned.size} session entries and ${this.held.size} placements: ${reason}`);
      await this.liveness.register();
      const entries = [...this.owned.values()];
      for (let i = 0; i < entries.length; i += BATCH) {
        await Promise.all(entries.slice(i, i + BATCH).map((entry) => this.restoreEntry(entry)));
      }
      const held = [...this.held];
      for (let i = 0; i < held.length; i += BATCH) {
        await Promise.all(held.slice(i, i + BATCH).map((key) => this.restorePlacement(key)));
      }
      await this.removeClosedWhileAway();
      void this.emit({ type: 'reconnected', declaredDead: this.liveness.takeDeclaredDead() });
    } catch (err) {
      // The next 'ready' or lapsed heartbeat triggers another attempt.
      this.log.warn('restoring session entries failed', err);
    }
  }

  /**
   * Entries of sessions that closed while Redis could not be told (Redis kept its data, or came back with
   * it): left there, they would show those users online to the whole cluster until this node stopped.
   */
  private async removeClosedWhileAway(): Promise<void> {
    const listed = await this.client.smembers(nodeJidsKey(this.nodeId));
    const stale = listed.filter((jid) => !this.owned.has(jid));
    for (let i = 0; i < stale.length; i += BATCH) {
      await Promise.all(stale.slice(i, i + BATCH).map(async (jid) => {
        // Rebound here meanwhile: it is owned again, and its entry is the new session's.
        if (this.owned.has(jid)) return;
        const { bare, resource } = splitFullJid(jid);
        const removed = await removeIfOwner.run(this.client, [sessionsKey(bare)], [resource, this.nodeId]);
        // A bind that started meanwhile has listed it again (commands keep their order): leave it listed.
        if (!this.owned.has(jid)) await this.client.srem(nodeJidsKey(this.nodeId), jid);
        if (removed) await this.invalidate(bare);
      }));
    }
  }

  private restorePlacement(key: string): Promise<void> {
    return this.placing.with([key], async () => {
      // Released since the list was taken: claiming it again would hold it for nobody.
      if (!this.held.has(key)) return;
      // Another node claimed it while this one was away: it stays there.
      if ((await this.claimNow(key, this.nodeId)) !== this.nodeId) this.held.delete(key);
    });
  }

  /** In the key's turn (`placing`). */
  private async claimNow(key: string, node: string): Promise<string> {
    // Listed first: a crash before the claim leaves a harmless member, never a claim nobody can find.
    await this.client.sadd(nodePlacementsKey(node), key);
    const holder = String(await claimPlacement.run(this.client, [placementKey(key)], [node]));
    if (holder !== node) await this.client.srem(nodePlacementsKey(node), key);
    else if (node === this.nodeId) this.held.add(key);
    return holder;
  }

  private async restoreEntry(entry: SessionEntry): Promise<void> {
    const { bare, resource } = splitFullJid(entry.jid);
    await this.client.sadd(nodeJidsKey(this.nodeId), entry.jid);
    const written = await restoreIfVacant.run(this.client, [sessionsKey(bare)], [resource, JSON.stringify(entry), this.nodeId]);
    // Another node took this JID over while we were away: the newer login wins.
    if (Number(written) !== 1 && this.owned.get(entry.jid) === entry) this.owned.delete(entry.jid);
    await this.invalidate(bare);
  }
}
