import type { StageAction } from './api.js';
import { randomHex } from '../../../util/random-token.js';

/** One multi-stage execution of a command by one requester (XEP-0050 §3.3). */
export interface CommandSession {
  readonly id: string;
  readonly node: string;
  /** Full JID of the requester: a session id is only good for whoever started it. */
  readonly owner: string;
  stage: number;
  readonly state: Map<string, unknown>;
  /** Actions the last stage offered, and what a plain `execute` stands for. */
  actions: ReadonlySet<StageAction>;
  execute: StageAction | undefined;
  expires: number;
}

/**
 * Open command sessions, in memory on the node that serves the requester's
 * connection (its iqs to the server are answered there, so the session
 * follows it). Idle sessions expire, and their number is capped so that a
 * requester that never finishes cannot grow the map without bound.
 */
export class CommandSessions {
  private readonly byId = new Map<string, CommandSession>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session, or null when too many are open. */
  open(node: string, owner: string): CommandSession | null {
    if (this.byId.size >= this.max) {
      this.prune();
      if (this.byId.size >= this.max) return null;
    }
    const session: CommandSession = {
      id: `${Date.now().toString(36)}-${randomHex(6)}`,
      node,
      owner,
      stage: 0,
      state: new Map(),
      actions: new Set(),
      execute: undefined,
      expires: this.now() + this.ttlMs,
    };
    this.byId.set(session.id, session);
    return session;
  }

  /** The session, 'expired' when it timed out (and is now forgotten), undefined when unknown. */
  get(id: string): CommandSession | 'expired' | undefined {
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    if (s.expires <= this.now()) {
      this.byId.delete(id);
      return 'expired';
    }
    return s;
  }

  touch(session: CommandSession): void {
    session.expires = this.now() + this.ttlMs;
  }

  close(id: string): void {
    this.byId.delete(id);
  }

  prune(): void {
    const now = this.now();
    for (const [id, s] of this.byId) if (s.expires <= now) this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}
