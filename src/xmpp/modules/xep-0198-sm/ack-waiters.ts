import type { ClientAcks } from '../../session.js';
import type { SmState } from './state.js';

/**
 * Promises that resolve as the client acknowledges what was written to it
 * (the session's CLIENT_ACKS). Counts are relative to this object's creation
 * and never wrap, unlike XEP-0198's 'h'.
 */
export class AckWaiters implements ClientAcks {
  /** Stanzas the client acknowledged since this object was made. */
  private released = 0;
  /** Oldest first: each resolves once `released` reaches `upTo`. */
  private readonly waiting: Array<{ upTo: number; resolve: () => void }> = [];

  constructor(private readonly state: SmState) {}

  untilHandled(): Promise<void> {
    const unacknowledged = this.state.queue.length;
    if (unacknowledged === 0) return Promise.resolve();
    const upTo = this.released + unacknowledged;
    return new Promise((resolve) => this.waiting.push({ upTo, resolve }));
  }

  /** The client acknowledged `count` more stanzas. */
  acknowledged(count: number): void {
    this.released += count;
    let done = 0;
    while (done < this.waiting.length && this.waiting[done]!.upTo <= this.released) this.waiting[done++]!.resolve();
    if (done > 0) this.waiting.splice(0, done);
  }

  /** The unacknowledged stanzas were passed on (offline storage, another node): nothing is left to wait for. */
  releaseAll(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
  }
}
