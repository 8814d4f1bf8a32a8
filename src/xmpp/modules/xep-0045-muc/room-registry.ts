import { compareSortKeys } from '../../../storage/sort-key.js';
import { defaultConfig, type ConfigDefaults, type RoomConfig } from './config.js';
import { Room } from './room.js';
import type { PublicRoom } from './service-domain.js';
import type { RoomStore } from './store.js';

/**
 * The rooms this node runs: loaded from the store on first use, saved when
 * persistent, and forgotten when neither persistent nor occupied. Listeners
 * hear of each room let go (the cluster placement is released then).
 */
export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly droppedListeners: Array<(jid: string) => void> = [];

  constructor(
    private readonly store: RoomStore,
    private readonly defaults: ConfigDefaults,
  ) {}

  /** A room in memory, without loading it. */
  loaded(jid: string): Room | undefined {
    return this.rooms.get(jid);
  }

  all(): IterableIterator<Room> {
    return this.rooms.values();
  }

  jids(): string[] {
    return [...this.rooms.keys()];
  }

  /** A room in memory or in the store. */
  async get(jid: string): Promise<Room | undefined> {
    const inMemory = this.rooms.get(jid);
    if (inMemory !== undefined) return inMemory;
    const loaded = await this.store.load(jid, (c) => this.config(c));
    if (loaded !== undefined) this.rooms.set(jid, loaded);
    return loaded;
  }

  /** A new room with the service's default configuration, kept in memory. */
  create(jid: string): Room {
    const room = new Room(jid, this.config());
    this.rooms.set(jid, room);
    return room;
  }

  /** Takes a room out of memory without telling anyone (another node runs it now). */
  evict(jid: string): Room | undefined {
    const room = this.rooms.get(jid);
    this.rooms.delete(jid);
    return room;
  }

  config(partial: Partial<RoomConfig> = {}): RoomConfig {
    return { ...defaultConfig(this.defaults), ...partial };
  }

  async persist(room: Room): Promise<void> {
    if (room.config.persistent && !room.locked) await this.store.save(serviceOf(room), room);
  }

  /**
   * Stores a room just created, if it is persistent and in use at once (an instant room, not locked for
   * configuration); one the store refused is let go, as if it had never been created.
   */
  async persistCreated(room: Room): Promise<void> {
    try {
      await this.persist(room);
    } catch (e) {
      this.forget(room);
      throw e;
    }
  }

  /** Forgets a room that is neither persistent nor occupied. */
  async dropIfUnused(room: Room): Promise<void> {
    if (room.occupants.size > 0 || (room.config.persistent && !room.locked)) return;
    this.forget(room);
    await this.store.remove(serviceOf(room), room.jid);
  }

  /** Lets a room go (emptied, destroyed) and tells the listeners. */
  forget(room: Room): void {
    this.rooms.delete(room.jid);
    for (const listener of this.droppedListeners) listener(room.jid);
  }

  onDropped(listener: (jid: string) => void): void {
    this.droppedListeners.push(listener);
  }

  /**
   * One page of the rooms a service domain's disco#items lists (§6.3): stored
   * public rooms, as the rooms in memory now are (a room being configured or
   * made hidden is left out, a temporary public one is in). Read in JID order
   * after `from.after`, or backwards from `from.before` ('' for the end); the
   * page is always in JID order, and `more` tells whether rooms follow it in
   * the direction read.
   *
   * The store's list is read in key ranges until `max` + 1 listed rooms are
   * known, never whole; rooms in memory are looked through without reading
   * the store. Hidden rooms are skipped while reading, so a page never
   * names one and each page moves past its last room: paging ends.
   */
  async publicRoomsPage(domain: string, from: { after?: string; before?: string }, max: number): Promise<{ rooms: PublicRoom[]; more: boolean }> {
    const backward = from.before !== undefined;
    const cursor = backward ? (from.before === '' ? undefined : from.before) : from.after;
    // Negative when `a` comes first in the direction read.
    const order = (a: string, b: string): number => (backward ? compareSortKeys(b, a) : compareSortKeys(a, b));
    const inMemory = new Set<string>();
    const fromMemory: PublicRoom[] = [];
    for (const r of this.rooms.values()) {
      if (serviceOf(r) !== domain) continue;
      inMemory.add(r.jid);
      if (r.config.public && !r.locked && (cursor === undefined || order(cursor, r.jid) < 0)) fromMemory.push({ jid: r.jid, name: r.config.name });
    }

    const want = max + 1;
    // At least a few rows a read, so runs of hidden rooms take few reads.
    const batch = Math.max(want, 16);
    const fromStore: PublicRoom[] = [];
    let read = cursor;
    for (;;) {
      const rows = await this.store.listedPage(domain, backward ? { before: read ?? '' } : { after: read }, batch);
      for (const r of rows) if (r.public && !inMemory.has(r.jid)) fromStore.push({ jid: r.jid, name: r.name });
      if (rows.length < batch) break;
      const readTo = (read = rows[rows.length - 1]!.jid);
      // Enough once `want` rooms come no later than the last row read: every room not read yet comes after them.
      if (fromStore.length + fromMemory.filter((r) => order(r.jid, readTo) <= 0).length >= want) break;
    }
    const merged = [...fromStore, ...fromMemory].sort((a, b) => order(a.jid, b.jid));
    const rooms = merged.slice(0, max);
    if (backward) rooms.reverse();
    return { rooms, more: merged.length > max };
  }
}

/** The service domain of a room (`conference.example.org` of `room@conference.example.org`). */
export function serviceOf(room: Room): string {
  return room.jid.slice(room.jid.indexOf('@') + 1);
}
