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

  /** The rooms of a service domain its disco#items lists: stored public ones, as the rooms in memory now are. */
  async publicRooms(domain: string): Promise<PublicRoom[]> {
    const items = new Map<string, string>();
    for (const r of await this.store.listed(domain)) if (r.public) items.set(r.jid, r.name);
    for (const r of this.rooms.values()) {
      if (serviceOf(r) !== domain) continue;
      if (r.config.public && !r.locked) items.set(r.jid, r.config.name);
      else items.delete(r.jid);
    }
    return [...items].map(([jid, name]) => ({ jid, name }));
  }
}

/** The service domain of a room (`conference.example.org` of `room@conference.example.org`). */
export function serviceOf(room: Room): string {
  return room.jid.slice(room.jid.indexOf('@') + 1);
}
