import type { ClientSession } from './session.js';

const NONE: readonly ClientSession[] = Object.freeze([]);

/** Bound sessions on this node, by full JID and by account. */
export class SessionRegistry {
  private readonly byFull = new Map<string, ClientSession>();
  private readonly byBare = new Map<string, ClientSession[]>();

  get size(): number {
    return this.byFull.size;
  }

  add(session: ClientSession): void {
    this.byFull.set(session.jid.full, session);
    const list = this.byBare.get(session.jid.bare);
    if (list === undefined) this.byBare.set(session.jid.bare, [session]);
    else list.push(session);
  }

  /** Removes the session if it is still the one registered under its JID. */
  remove(session: ClientSession): boolean {
    if (this.byFull.get(session.jid.full) !== session) return false;
    this.byFull.delete(session.jid.full);
    const list = this.byBare.get(session.jid.bare);
    if (list !== undefined) {
      const i = list.indexOf(session);
      if (i !== -1) list.splice(i, 1);
      if (list.length === 0) this.byBare.delete(session.jid.bare);
    }
    return true;
  }

  get(full: string): ClientSession | undefined {
    return this.byFull.get(full);
  }

  ofAccount(bare: string): readonly ClientSession[] {
    return this.byBare.get(bare) ?? NONE;
  }

  all(): IterableIterator<ClientSession> {
    return this.byFull.values();
  }
}
