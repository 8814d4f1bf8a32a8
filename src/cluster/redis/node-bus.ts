import { createLogger, type Logger } from '../../util/log.js';
import type { HeldPayload, NodeBus, NodeMessageHandler, OrphanHandler } from '../node-bus.js';
import { connectRedis, onConnectionReady, redisClusterOptions, whenReady, type RedisClient, type RedisClusterOptions } from './connection.js';
import { nodeAliveKey, nodeInboxKey } from './keys.js';
import { ackAndDelete, sendIfAlive } from './scripts.js';

export interface RedisNodeBusConfig {
  nodeId: string;
  redis?: Partial<RedisClusterOptions>;
  log?: Logger;
  /** How long one blocking read waits before looping (bounds how late `stop` notices). */
  blockMs?: number;
}

const GROUP = 'sori';
const READ_COUNT = 100;

/** An XREADGROUP reply: per stream, its entries as [id, [field, value, ...]]. */
type StreamReply = Array<[stream: string, entries: Array<[id: string, fields: string[] | null]>]>;

/**
 * Why a read failed for want of the inbox, or null for any other failure. 'missing' (NOGROUP): the read found the
 * stream or its group gone, as after Redis restarted without data. 'deleted under the read': it went while the read
 * was blocked on it, which Redis (7.0 and later) answers at once with this error rather than leaving the read blocked
 * on a key that no longer exists; a survivor's reclaim deletes the inbox of a node it declared dead that was in fact
 * only paused or cut off, and FLUSHALL deletes every inbox. Either way nothing is left to read in the old stream.
 */
function inboxGone(err: unknown): 'missing' | 'deleted under the read' | null {
  if (!(err instanceof Error)) return null;
  if (err.message.startsWith('NOGROUP')) return 'missing';
  // Other UNBLOCKED errors (CLIENT UNBLOCK, a master turned replica) leave the inbox where it was.
  if (err.message.startsWith('UNBLOCKED the stream key no longer exists')) return 'deleted under the read';
  return null;
}

function field(fields: readonly string[], name: string): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}

/**
 * Node bus on Redis Streams: one stream per node, `sori:node:{id}:inbox`.
 *
 * Why streams rather than pub/sub: a pub/sub message published while the
 * receiver is reconnecting is lost, and nothing remains to hand over when a
 * node dies. A stream keeps each entry until the receiver has handled it.
 * The receiver reads through a consumer group on a dedicated connection
 * (XREADGROUP BLOCK), calls the handler, then acknowledges and deletes the
 * entry, so the stream only ever holds what is not yet handled. An entry
 * whose handler holds it (a stanza the client has yet to acknowledge) stays
 * until it settles, without holding up the entries behind it. After a
 * restart, and when its reading connection is made again, the node first
 * re-reads its pending entries (delivered, never acknowledged); after its death the claiming node reads the whole stream
 * and hands it to the orphan handlers. Delivery is therefore at least once,
 * in send order per (sender, receiver) pair.
 */
export class RedisNodeBus implements NodeBus {
  readonly nodeId: string;
  private readonly options: RedisClusterOptions;
  private readonly log: Logger;
  private readonly blockMs: number;
  private readonly client: RedisClient;
  /** Blocking reads hold their connection, so they get one of their own. */
  private readonly reader: RedisClient;
  private readonly inbox: string;
  private readonly handlers: NodeMessageHandler[] = [];
  private readonly orphanHandlers: OrphanHandler[] = [];
  private stopped = true;
  private readLoop: Promise<void> = Promise.resolve();
  /** Handled entries not yet acknowledged; `acking` sends them in batches, one round trip at a time. */
  private readonly handledIds: string[] = [];
  /** Entries read by this run and not yet acknowledged (being handled, held, or in `handledIds`). */
  private readonly unacknowledged = new Set<string>();
  /** Set when the reader's connection was made again: pending entries are read before new ones. */
  private rereadPending = false;
  private acking: Promise<void> | null = null;

  constructor(config: RedisNodeBusConfig) {
    this.nodeId = config.nodeId;
    this.options = redisClusterOptions(config.redis);
    this.log = config.log ?? createLogger(`node-bus:${config.nodeId}`);
    this.blockMs = config.blockMs ?? 2000;
    this.inbox = nodeInboxKey(this.nodeId);
    this.client = connectRedis(this.options, `sori-bus-${this.nodeId}`, { waitMs: this.options.waitMs });
    // A blocking read is answered only after up to blockMs.
    this.reader = connectRedis(this.options, `sori-inbox-${this.nodeId}`, { waitMs: this.options.waitMs + this.blockMs });
    for (const c of [this.client, this.reader]) c.on('error', (err: Error) => this.log.debug(`redis: ${err.message}`));
    // ioredis sends a read that was under way again on the new connection, without an error: whatever the
    // lost answer held is pending for this consumer, and only a read of pending entries finds it.
    onConnectionReady(this.reader, () => (this.rereadPending = true));
  }

  onMessage(handler: NodeMessageHandler): void {
    this.handlers.push(handler);
  }

  onOrphaned(handler: OrphanHandler): void {
    this.orphanHandlers.push(handler);
  }

  async start(): Promise<void> {
    await Promise.all([whenReady(this.client), whenReady(this.reader)]);
    await this.ensureGroup();
    this.stopped = false;
    this.readLoop = this.readInbox();
  }

  async send(nodeId: string, payload: string): Promise<boolean> {
    // A send that fails on its wait must not land later (from ioredis's offline queue, once Redis is back):
    // the caller has handled the payload as undeliverable by then, and it would arrive twice. So Redis drops
    // it past a deadline somewhat before the wait ends, leaving time for the answer to come back.
    const waitMs = this.options.waitMs;
    const deadline = Date.now() + waitMs - Math.min(1000, Math.floor(waitMs / 4));
    const id = await sendIfAlive.run(this.client, [nodeAliveKey(nodeId), nodeInboxKey(nodeId)], [this.options.inboxMaxLen, this.nodeId, payload, deadline]);
    return typeof id === 'string';
  }

  async reclaim(deadNode: string): Promise<number> {
    const inbox = nodeInboxKey(deadNode);
    let count = 0;
    for (;;) {
      const entries = (await this.client.xrange(inbox, '-', '+', 'COUNT', READ_COUNT)) as Array<[string, string[]]>;
      if (entries.length === 0) break;
      for (const [, fields] of entries) {
        await this.orphaned(field(fields, 'p'), deadNode);
        count++;
      }
      await this.client.xdel(inbox, ...entries.map(([id]) => id));
    }
    await this.client.del(inbox);
    if (count > 0 && this.orphanHandlers.length === 0) this.log.warn(`${count} stanzas for dead node ${deadNode} dropped: no orphan handler`);
    return count;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Disconnecting aborts the blocking read at once instead of waiting for it to time out.
    this.reader.disconnect();
    await this.readLoop;
    // Entries still held stay pending: the next run re-reads them, or the node that reclaims this one does.
    await this.acking;
    this.client.disconnect();
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From '0': entries sent while this node was down are read too.
      await this.client.xgroup('CREATE', this.inbox, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
    }
  }

  private async readInbox(): Promise<void> {
    // '0' reads entries delivered to this consumer but never acknowledged, from the cursor on (entries
    // still held stay pending, so the cursor must move past them); '>' reads new ones. Pending entries
    // are read at start (an earlier run's) and after a failed read: a read whose answer was lost (the
    // connection dropped, or the wait ran out) has still delivered its entries to this consumer.
    let cursor = '0';
    let history = true;
    this.rereadPending = false;
    while (!this.stopped) {
      if (this.rereadPending) {
        this.rereadPending = false;
        cursor = '0';
        history = true;
      }
      try {
        const reply = (await this.reader.xreadgroup(
          'GROUP', GROUP, this.nodeId, 'COUNT', READ_COUNT, 'BLOCK', this.blockMs, 'STREAMS', this.inbox, cursor,
        )) as StreamReply | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          if (history) {
            history = false;
            cursor = '>';
          }
          continue;
        }
        if (history) cursor = entries[entries.length - 1]![0];
        for (const [id, fields] of entries) {
          // Read before the failure and still being handled or acknowledged: not a second time.
          if (this.unacknowledged.has(id)) continue;
          this.unacknowledged.add(id);
          // A pending entry deleted meanwhile is listed without fields: nothing to deliver.
          if (fields === null) {
            this.handled(id);
            continue;
          }
          const held = await this.deliver(field(fields, 'p'), field(fields, 'from'));
          if (held === undefined) this.handled(id);
          else {
            const done = (): void => this.handled(id);
            held.settled.then(done, done);
          }
        }
      } catch (err) {
        if (this.stopped) break;
        const gone = inboxGone(err);
        if (gone !== null) {
          if (gone === 'deleted under the read') {
            this.log.warn('inbox deleted while this node read it (another node declared this one dead and reclaimed it, or Redis was emptied); reading it afresh');
          }
          // From '0', so what was sent since the deletion (a stream made without the group) is read too.
          await this.ensureGroup().catch(async (e: unknown) => {
            this.log.warn('recreating inbox group failed; retrying', e);
            await new Promise((r) => setTimeout(r, 200));
          });
          cursor = '0';
          history = true;
          continue;
        }
        this.log.warn('reading inbox failed; retrying', err);
        cursor = '0';
        history = true;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /**
   * Runs the message handlers; returns what holds the payload, if any handler does.
   * (A wrapper, not the promise itself: an async function's result would be awaited.)
   */
  private async deliver(payload: string, fromNode: string): Promise<HeldPayload | undefined> {
    let held: HeldPayload | undefined;
    for (const handler of this.handlers) {
      try {
        const result: void | HeldPayload = await handler(payload, fromNode);
        if (result !== undefined) held = held === undefined ? result : { settled: Promise.all([held.settled, result.settled]).then(() => undefined) };
      } catch (err) {
        // A stanza that makes its handler throw must not block the inbox forever.
        this.log.error('message handler failed', err);
      }
    }
    return held;
  }

  /** Acknowledges and deletes an entry; entries handled while a batch is in flight go in the next one. */
  private handled(id: string): void {
    this.handledIds.push(id);
    this.acking ??= this.ackHandled();
  }

  /** Always awaits before returning, so `acking` is set before this clears it. */
  private async ackHandled(): Promise<void> {
    try {
      while (this.handledIds.length > 0) {
        const ids = this.handledIds.splice(0);
        try {
          await ackAndDelete.run(this.client, [this.inbox], [GROUP, ...ids]);
          for (const id of ids) this.unacknowledged.delete(id);
        } catch (err) {
          // Left pending, the entries would be handed over again after a restart or a reclaim: retry while running.
          // NOGROUP: Redis restarted without data, and the entries went with it.
          if (err instanceof Error && err.message.startsWith('NOGROUP')) for (const id of ids) this.unacknowledged.delete(id);
          if (this.stopped || (err instanceof Error && err.message.startsWith('NOGROUP'))) continue;
          this.log.warn(`acknowledging ${ids.length} inbox entries failed; retrying`, err);
          this.handledIds.unshift(...ids);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      this.acking = null;
    }
  }

  private async orphaned(payload: string, deadNode: string): Promise<void> {
    for (const handler of this.orphanHandlers) {
      try {
        await handler(payload, deadNode);
      } catch (err) {
        this.log.error('orphan handler failed', err);
      }
    }
  }
}
