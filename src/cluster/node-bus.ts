/**
 * Node-to-node delivery of serialised stanzas. The router asks the session
 * table which node holds a full JID, then sends the stanza there; the
 * receiving node hands it to its local session. See docs/cluster.md for the
 * delivery guarantee of each backend.
 */

/** Receives a payload sent by `fromNode`; the message counts as handled once this resolves. */
export type NodeMessageHandler = (payload: string, fromNode: string) => void | Promise<void>;

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
