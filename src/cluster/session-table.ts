/**
 * The session table says which node holds which full JID, and which node
 * holds each thing placed on one node (`claim`). On a single node it is an
 * in-process map; in a cluster it lives in Redis. The router asks it only for
 * JIDs not connected to this node.
 */

export interface SessionEntry {
  /** Full JID, normalised. */
  jid: string;
  /** Id of the node holding the connection (or the hibernated stream-management session). */
  node: string;
  /** Presence priority; null while the resource has sent no available presence. */
  priority: number | null;
  /** Serialised current available presence, or null when none. */
  presence: string | null;
  /** Stream-management resumption id, when the session has one. */
  smId?: string;
  /** True while the connection is gone but the SM session waits to be resumed. */
  hibernated?: boolean;
  /** True when the client has asked for its roster (RFC 6121 "interested resource"). */
  interested?: boolean;
  /** Carbons enabled (XEP-0280), needed to copy to resources on other nodes. */
  carbons?: boolean;
  /**
   * Full JIDs the session sent directed presence to and has not yet told unavailable (RFC 6121 §4.6):
   * read only when its node dies, by the node that then says unavailable for it. Absent when none.
   */
  directed?: string[];
}

export type SessionTableEvent =
  | { type: 'node-dead'; node: string; sessions: SessionEntry[] }
  /**
   * This node's entries were written back. `declaredDead`: a survivor had cleaned up after this node meanwhile
   * (it was paused or cut off, not dead), so its sessions were announced unavailable in its name; otherwise Redis
   * lost them (restarted empty) or its alive key lapsed unnoticed, and nobody was told anything.
   */
  | { type: 'reconnected'; declaredDead: boolean };

export interface SessionTable {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Inserts or replaces the entry for entry.jid. */
  put(entry: SessionEntry): Promise<void>;
  /**
   * A resource bound: writes the entry and returns the one it replaced, in one step, so that two nodes
   * binding the same full JID at once each see the other (and the later one kicks the earlier).
   */
  bind(entry: SessionEntry): Promise<SessionEntry | undefined>;
  /**
   * Rewrites the entry (a presence, carbons or hibernation change) only while `entry.node` still holds
   * it: an update racing a newer login elsewhere must not take the entry back. True when written.
   */
  update(entry: SessionEntry): Promise<boolean>;
  get(fullJid: string): Promise<SessionEntry | undefined>;
  /** Every resource of an account, on any node. */
  byBare(bareJid: string): Promise<SessionEntry[]>;
  /** Removes the entry, but only if it is still held by `node` (a newer login elsewhere wins). */
  remove(fullJid: string, node: string): Promise<void>;
  /**
   * Placement of what lives on one node at a time (a MUC room, a component's
   * domain), by a key of the caller's choosing: makes `node` the holder of
   * `key` unless a node holds it already, and resolves to the holder. A dead
   * node's keys are released by the cleanup after it (before 'node-dead').
   * Just after the table came back empty (see `settled`), a key nobody holds
   * is claimed only once its holder has had time to write it back.
   */
  claim(key: string, node: string): Promise<string>;
  /** The node holding `key`, or undefined. */
  holder(key: string): Promise<string | undefined>;
  /** Releases `key` if `node` holds it. */
  release(key: string, node: string): Promise<void>;
  /**
   * Ids of the nodes in the cluster, this one included: those registered and not yet cleaned up after. A node
   * that died a moment ago may still be listed (posts to it are refused); one that just joined may be missing.
   */
  nodes(): Promise<string[]>;
  /**
   * Resolves at once with false, except shortly after this node's connection to the table came back:
   * the table may have restarted empty, and other nodes may not have written their entries back yet.
   * Then it resolves with true once they have had time to, so a lookup that found nothing is worth
   * repeating before the recipient is taken for offline.
   */
  settled(): Promise<boolean>;
  /**
   * Subscribes to cluster events (dead nodes, reconnection). What a listener returns for 'node-dead' is
   * awaited before the dead node may come back (its claim marked done), so that the goodbyes said in its name
   * are on their way before it says hello again, and cannot overtake it.
   */
  onEvent(listener: (event: SessionTableEvent) => void | Promise<void>): void;
  stop(): Promise<void>;
}
