import { createLogger } from '../util/log.js';
import type { NodeBus, NodeMessageHandler, OrphanHandler } from './node-bus.js';

const log = createLogger('node-bus');

/** Connects MemoryNodeBus instances of one process, each standing for a node. */
export class MemoryNodeBusHub {
  readonly nodes = new Map<string, MemoryNodeBus>();
}

/**
 * In-process node bus: with a single node nothing is ever sent; with several
 * nodes in one process (tests) it delivers asynchronously and in order, like
 * the Redis bus. A stopped node's bus is simply gone, so there is nothing to reclaim.
 */
export class MemoryNodeBus implements NodeBus {
  private readonly handlers: NodeMessageHandler[] = [];
  private delivery: Promise<void> = Promise.resolve();

  constructor(readonly nodeId: string, private readonly hub = new MemoryNodeBusHub()) {}

  async start(): Promise<void> {
    this.hub.nodes.set(this.nodeId, this);
  }

  async send(nodeId: string, payload: string): Promise<boolean> {
    const target = this.hub.nodes.get(nodeId);
    if (target === undefined) return false;
    target.enqueue(payload, this.nodeId);
    return true;
  }

  onMessage(handler: NodeMessageHandler): void {
    this.handlers.push(handler);
  }

  onOrphaned(_handler: OrphanHandler): void {}

  async reclaim(_deadNode: string): Promise<number> {
    return 0;
  }

  async stop(): Promise<void> {
    if (this.hub.nodes.get(this.nodeId) === this) this.hub.nodes.delete(this.nodeId);
    await this.delivery;
  }

  private enqueue(payload: string, fromNode: string): void {
    // Chaining keeps delivery in send order even when a handler is asynchronous.
    this.delivery = this.delivery.then(async () => {
      for (const handler of this.handlers) {
        try {
          await handler(payload, fromNode);
        } catch (err) {
          log.error(`node message handler failed on ${this.nodeId}`, err);
        }
      }
    });
  }
}
