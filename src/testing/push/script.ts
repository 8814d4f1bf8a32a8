/**
 * What the fake push services share: a request log tests can await, a set of
 * dead tokens, and scripted failures (next N requests fail, or hang).
 */
import { EventEmitter } from 'node:events';

export type ScriptedFailure = 'unavailable' | 'internal' | 'hang';

export class PushServiceScript<R> {
  readonly requests: R[] = [];
  private readonly deadTokens = new Set<string>();
  private readonly failures: ScriptedFailure[] = [];
  private hangAll = false;
  private readonly recorded = new EventEmitter();

  /** The service answers "unregistered" for this token from now on. */
  markDead(token: string): void {
    this.deadTokens.add(token);
  }

  isDead(token: string): boolean {
    return this.deadTokens.has(token);
  }

  /** The next `times` requests fail this way, then normal service resumes. */
  failNext(failure: ScriptedFailure, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push(failure);
  }

  /** Every request from now on is accepted and never answered (a stuck endpoint). */
  hangForever(): void {
    this.hangAll = true;
  }

  /** Records a request and returns the scripted failure to apply to it, if any. */
  record(request: R): ScriptedFailure | undefined {
    this.requests.push(request);
    this.recorded.emit('request');
    return this.hangAll ? 'hang' : this.failures.shift();
  }

  /** Resolves once at least `count` requests have been recorded. */
  async waitForRequests(count: number): Promise<R[]> {
    while (this.requests.length < count) {
      await new Promise((resolve) => this.recorded.once('request', resolve));
    }
    return this.requests;
  }
}
