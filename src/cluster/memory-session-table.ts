import { splitFullJid } from '../util/jid.js';
import type { SessionEntry, SessionTable, SessionTableEvent } from './session-table.js';

/**
 * The backing map of in-process session tables: account → resource → entry.
 * One per process normally; several MemorySessionTables sharing one store act
 * as nodes of an in-process cluster (useful in tests of cross-node routing).
 */
export class MemorySessionStore {
  readonly accounts = new Map<string, Map<string, SessionEntry>>();
  /** Placement key → holding node. */
  readonly holders = new Map<string, string>();
  /** Nodes whose table has started and not stopped. */
  readonly nodes = new Set<string>();
}

/**
 * The single-node session table. Entries are copied in and out so that a
 * caller mutating its object cannot change the table behind its back (the
 * Redis backend behaves the same way, by serialising). No node ever dies here,
 * so it emits no events.
 */
export class MemorySessionTable implements SessionTable {
  readonly nodeId: string;
  private readonly store: MemorySessionStore;

  constructor(options: { nodeId: string; store?: MemorySessionStore }) {
    this.nodeId = options.nodeId;
    this.store = options.store ?? new MemorySessionStore();
  }

  async start(): Promise<void> {
    this.store.nodes.add(this.nodeId);
  }

  async nodes(): Promise<string[]> {
    return [...new Set([this.nodeId, ...this.store.nodes])];
  }

  async put(entry: SessionEntry): Promise<void> {
    const { bare, resource } = splitFullJid(entry.jid);
    let resources = this.store.accounts.get(bare);
    if (resources === undefined) {
      resources = new Map();
      this.store.accounts.set(bare, resources);
    }
    resources.set(resource, { ...entry });
  }

  async bind(entry: SessionEntry): Promise<SessionEntry | undefined> {
    const previous = await this.get(entry.jid);
    await this.put(entry);
    return previous;
  }

  async update(entry: SessionEntry): Promise<boolean> {
    if ((await this.get(entry.jid))?.node !== entry.node) return false;
    await this.put(entry);
    return true;
  }

  async get(fullJid: string): Promise<SessionEntry | undefined> {
    const { bare, resource } = splitFullJid(fullJid);
    const entry = this.store.accounts.get(bare)?.get(resource);
    return entry === undefined ? undefined : { ...entry };
  }

  async byBare(bareJid: string): Promise<SessionEntry[]> {
    const resources = this.store.accounts.get(bareJid);
    if (resources === undefined) return [];
    return [...resources.values()].map((e) => ({ ...e }));
  }

  async remove(fullJid: string, node: string): Promise<void> {
    const { bare, resource } = splitFullJid(fullJid);
    const resources = this.store.accounts.get(bare);
    if (resources?.get(resource)?.node !== node) return;
    resources.delete(resource);
    if (resources.size === 0) this.store.accounts.delete(bare);
  }

  async claim(key: string, node: string): Promise<string> {
    const holder = this.store.holders.get(key);
    if (holder !== undefined) return holder;
    this.store.holders.set(key, node);
    return node;
  }

  async holder(key: string): Promise<string | undefined> {
    return this.store.holders.get(key);
  }

  async release(key: string, node: string): Promise<void> {
    if (this.store.holders.get(key) === node) this.store.holders.delete(key);
  }

  async settled(): Promise<boolean> {
    return false;
  }

  onEvent(_listener: (event: SessionTableEvent) => void | Promise<void>): void {}

  async stop(): Promise<void> {
    this.store.nodes.delete(this.nodeId);
  }
}
