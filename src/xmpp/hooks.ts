import type { EventMap, EventName, HookHandler } from './events.js';
import { isThenable } from '../util/maybe-async.js';

interface Entry<E extends EventName> {
  fn: HookHandler<E>;
  priority: number;
  seq: number;
}

/**
 * Hook chains, kept as plain arrays sorted once at registration so that firing
 * one is a loop with no allocation. Firing stays synchronous while handlers
 * return synchronously, and only becomes a promise at the first handler that
 * returns one.
 */
export class Hooks {
  private readonly entries = new Map<EventName, Entry<EventName>[]>();
  private readonly compiled = new Map<EventName, HookHandler<EventName>[]>();
  private seq = 0;

  add<E extends EventName>(name: E, fn: HookHandler<E>, priority = 0): () => void {
    const list = (this.entries.get(name) ?? []) as Entry<E>[];
    const entry: Entry<E> = { fn, priority, seq: this.seq++ };
    list.push(entry);
    list.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    this.entries.set(name, list as unknown as Entry<EventName>[]);
    this.compile(name);
    return () => {
      const l = this.entries.get(name);
      if (l === undefined) return;
      const i = l.indexOf(entry as unknown as Entry<EventName>);
      if (i !== -1) l.splice(i, 1);
      this.compile(name);
    };
  }

  private compile(name: EventName): void {
    this.compiled.set(name, (this.entries.get(name) ?? []).map((e) => e.fn));
  }

  has(name: EventName): boolean {
    const l = this.compiled.get(name);
    return l !== undefined && l.length > 0;
  }

  /** Runs the chain; resolves to true when a handler claimed the event. */
  fire<E extends EventName>(name: E, event: EventMap[E]): boolean | Promise<boolean> {
    const list = this.compiled.get(name) as HookHandler<E>[] | undefined;
    if (list === undefined) return false;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!(event);
      if (r === true) return true;
      if (isThenable(r)) return this.continueAsync(list, i, r as Promise<boolean | void>, event);
    }
    return false;
  }

  private async continueAsync<E extends EventName>(list: HookHandler<E>[], at: number, pending: Promise<boolean | void>, event: EventMap[E]): Promise<boolean> {
    if ((await pending) === true) return true;
    // Most handlers answer synchronously; awaiting their plain result would cost a microtask each.
    for (let i = at + 1; i < list.length; i++) {
      const r = list[i]!(event);
      if (r === true) return true;
      if (isThenable(r) && (await (r as Promise<boolean | void>)) === true) return true;
    }
    return false;
  }

  /**
   * Runs a notification's handlers each on its own: one that throws (a store
   * outage) is reported to `failed` and the rest still run, so that one
   * module's failure leaves no other module's state behind. A claim still
   * stops the chain.
   */
  async fireEach<E extends EventName>(name: E, event: EventMap[E], failed: (e: unknown) => void): Promise<void> {
    const list = this.compiled.get(name) as HookHandler<E>[] | undefined;
    if (list === undefined) return;
    for (const fn of list) {
      try {
        if ((await fn(event)) === true) return;
      } catch (e) {
        failed(e);
      }
    }
  }

  /** Fires and always returns a promise (for callers off the hot path). */
  async fireAsync<E extends EventName>(name: E, event: EventMap[E]): Promise<boolean> {
    return this.fire(name, event);
  }
}
