import type { Logger } from '../../util/log.js';
import type { RedisClient } from './connection.js';
import { NODES_KEY, nodeAliveKey, nodeClaimKey } from './keys.js';
import { CLAIM_DONE, HEARTBEAT_CREATED, HEARTBEAT_RECLAIMED, HEARTBEAT_REFUSED, claimIfDead, heartbeat } from './scripts.js';

/**
 * How long a finished claim stays marked done at least (claimTtlMs when longer). The mark is how a node that was
 * only paused learns, when it comes back, that it was declared dead and its users announced gone: without it, that
 * looks like Redis having restarted empty, where nobody was told anything. A partition can outlast claimTtlMs while
 * the node's clients stay connected to it; one that outlasts a day has lost them to their keepalives long before.
 */
export const DEATH_MARK_MS = 24 * 60 * 60 * 1000;

export interface LivenessTiming {
  aliveTtlMs: number;
  heartbeatMs: number;
  deadCheckMs: number;
  claimTtlMs: number;
}

export interface LivenessHooks {
  /** This node's alive key had lapsed (it may have been declared dead and cleaned up): restore its state. */
  onLapsed(): void;
  /** This node won the claim on `deadNode`; the claim is released once the promise resolves. */
  onClaimed(deadNode: string): Promise<void>;
}

/**
 * Node liveness in Redis. Each node refreshes `sori:node:{id}:alive` (short
 * TTL) and is listed in `sori:nodes`. Every node scans that list; for a node
 * whose alive key lapsed, exactly one survivor wins `claimIfDead` (the alive
 * check and the SET NX of the claim key are one script on the node's slot),
 * cleans up, then marks the claim done. While a claim is in progress the dead
 * node's heartbeat is refused, so a node that was only paused cannot come back
 * in the middle of its own cleanup; it comes back after, and restores its entries.
 */
export class NodeLiveness {
  private heartbeatTimer: NodeJS.Timeout | undefined = undefined;
  private deadCheckTimer: NodeJS.Timeout | undefined = undefined;
  private checking = false;
  private stopped = false;
  /** A heartbeat found this node's claim done (it was declared dead) since `takeDeclaredDead` last asked. */
  private declaredDead = false;

  constructor(
    private readonly client: RedisClient,
    readonly nodeId: string,
    private readonly timing: LivenessTiming,
    private readonly hooks: LivenessHooks,
    private readonly log: Logger,
  ) {}

  /**
   * Sets the alive key and registers the node, waiting while a survivor still
   * cleans up after a previous run of this node id. Returns whether the alive
   * key had lapsed (false when a previous run died less than a TTL ago).
   */
  async register(): Promise<boolean> {
    for (;;) {
      const result = await this.beat();
      if (result !== HEARTBEAT_REFUSED) return result === HEARTBEAT_CREATED || result === HEARTBEAT_RECLAIMED;
      this.log.warn(`node ${this.nodeId} is being cleaned up by a survivor; waiting to register`);
      await new Promise((r) => setTimeout(r, Math.min(this.timing.heartbeatMs, 500)));
    }
  }

  startTimers(): void {
    this.stopped = false;
    this.heartbeatTimer = setInterval(() => void this.heartbeatTick(), this.timing.heartbeatMs).unref();
    this.deadCheckTimer = setInterval(() => void this.checkDeadNodes(), this.timing.deadCheckMs).unref();
  }

  /** Stops refreshing; with `leave`, deletes the alive key so a survivor cleans up at once. */
  async stop(leave: boolean): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.deadCheckTimer);
    if (leave && this.client.status === 'ready') await this.client.del(nodeAliveKey(this.nodeId));
  }

  /**
   * Whether this node was declared dead (a survivor cleaned up after it) since the last call, and so must tell
   * again what the survivor undid in its name. The heartbeat that saw it deleted the mark, so it is seen once.
   */
  takeDeclaredDead(): boolean {
    const was = this.declaredDead;
    this.declaredDead = false;
    return was;
  }

  private async beat(): Promise<number> {
    const result = Number(await heartbeat.run(this.client, [nodeAliveKey(this.nodeId), nodeClaimKey(this.nodeId)], [this.timing.aliveTtlMs]));
    if (result === HEARTBEAT_RECLAIMED) this.declaredDead = true;
    // The alive key is written first: a node in the registry without one is dead.
    if (result === HEARTBEAT_CREATED || result === HEARTBEAT_RECLAIMED) await this.client.sadd(NODES_KEY, this.nodeId);
    return result;
  }

  private async heartbeatTick(): Promise<void> {
    // While disconnected, queued heartbeats would only pile up; reconnection has its own path.
    if (this.stopped || this.client.status !== 'ready') return;
    try {
      const result = await this.beat();
      if (result === HEARTBEAT_REFUSED) this.log.warn(`node ${this.nodeId} was declared dead; waiting for the cleanup to finish`);
      else if ((result === HEARTBEAT_CREATED || result === HEARTBEAT_RECLAIMED) && !this.stopped) this.hooks.onLapsed();
    } catch (err) {
      if (!this.stopped) this.log.warn('heartbeat failed', err);
    }
  }

  /** One pass over the registry; public so tests and admin tools can trigger it. */
  async checkDeadNodes(): Promise<string[]> {
    if (this.stopped || this.checking || this.client.status !== 'ready') return [];
    this.checking = true;
    const claimed: string[] = [];
    try {
      const nodes = await this.client.smembers(NODES_KEY);
      for (const node of nodes) {
        if (node === this.nodeId) continue;
        const won = await claimIfDead.run(this.client, [nodeAliveKey(node), nodeClaimKey(node)], [this.nodeId, this.timing.claimTtlMs]);
        if (Number(won) !== 1) continue;
        this.log.info(`node ${node} is dead; cleaning up after it`);
        // On failure the claim is kept and expires, so another survivor retries the whole cleanup.
        await this.hooks.onClaimed(node);
        await this.client.srem(NODES_KEY, node);
        // Marked done rather than deleted: a checker that listed the node before the SREM must not claim it again.
        // Kept long after that too: it tells the node, should it come back, that it was declared dead (DEATH_MARK_MS).
        await this.client.set(nodeClaimKey(node), CLAIM_DONE, 'PX', Math.max(this.timing.claimTtlMs, DEATH_MARK_MS));
        claimed.push(node);
      }
    } catch (err) {
      // Stopping disconnects the client under a pass in flight; that is not worth a warning.
      if (!this.stopped) this.log.warn('dead-node check failed', err);
    } finally {
      this.checking = false;
    }
    return claimed;
  }
}
