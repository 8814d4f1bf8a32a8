/**
 * Node-to-node delivery of serialised stanzas. The router asks the session
 * table which node holds a full JID, then sends the stanza there; the
 * receiving node hands it to its local session. See docs/cluster.md for the
 * delivery guarantee of each backend.
 */

/**
 * A handler's answer for a payload it passed on but that must outlive a crash
 * of this node until `settled` resolves: a stanza written to a client that
 * acknowledges what it handles (XEP-0198). Until then a durable bus keeps the
 * payload, so if this node dies first the node that reclaims its inbox hands
 * it to the orphan handlers (at least once: the client may have seen it).
 */
export interface HeldPayload {
  readonly settled: Promise<void>;
}

/**
 * Receives a payload sent by `fromNode`. Payloads are handed over one at a
 * time, in order: the next waits for this one's promise. The payload counts
 * as handled then, or once `settled` resolves when a `HeldPayload` is returned.
 */
export type NodeMessageHandler = (payload: string, fromNode: string) => void | HeldPayload | Promise<void | HeldPayload>;

/** Receives a payload that a dead node never handled; the server stores it as offline delivery. */
export type OrphanHandler = (payload: string, deadNode: string) => void | Promise<void>;

export interface NodeBus {
  readonly nodeId: string;
  /** Starts reading this node's inbox; register handlers before. */
  start(): Promise<void>;
  /**
   * Queues `payload` for `nodeId`, in order after earlier sends from this node.
   * Resolves false when that node is not alive: treat the stanza as addressed to an offline user.
   */
  send(nodeId: string, payload: string): Promise<boolean>;
  onMessage(handler: NodeMessageHandler): void;
  onOrphaned(handler: OrphanHandler): void;
  /**
   * Hands what `deadNode` received but never handled to the orphan handlers,
   * then deletes its inbox. Called only by the node that claimed the dead
   * node (see SessionTable 'node-dead'); resolves to the number of payloads.
   */
  reclaim(deadNode: string): Promise<number>;
  stop(): Promise<void>;
}
