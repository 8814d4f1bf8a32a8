/**
 * Fire-and-forget push delivery. `dispatch()` only enqueues; each app has its
 * own lane (queue + bounded concurrency) so a slow or dead push service only
 * ever holds its own app's slots, and each attempt is cut off after
 * `requestTimeoutMs`. Transient failures are retried with exponential backoff
 * (with jitter) up to `maxAttempts`; a dead token is reported once through
 * `onInvalidToken` so the owner can drop the registration.
 */
import type { OptionSpecs, OptionValues } from '../util/options.js';
import { createLogger, type Logger } from '../util/log.js';
import type { PushNotification, PushProvider, PushResult } from './types.js';

export const PUSH_DISPATCHER_OPTIONS = {
  maxAttempts: { type: 'number', default: 5, min: 1, integer: true, doc: 'Delivery attempts per push, including the first.' },
  baseDelayMs: { type: 'number', default: 1000, min: 0, doc: 'Delay before the first retry; doubles per retry.' },
  maxDelayMs: { type: 'number', default: 60_000, min: 0, doc: 'Upper bound of the retry delay.' },
  concurrencyPerApp: { type: 'number', default: 16, min: 1, integer: true, doc: 'Pushes in flight at once per app.' },
  maxQueuedPerApp: { type: 'number', default: 10_000, min: 1, integer: true, doc: 'Pushes waiting per app; further pushes are dropped.' },
  requestTimeoutMs: { type: 'number', default: 10_000, min: 1, doc: 'An attempt not answered within this time counts as a transient failure.' },
} satisfies OptionSpecs;

export type PushDispatcherOptions = OptionValues<typeof PUSH_DISPATCHER_OPTIONS>;

export interface PushDispatcherHooks {
  /** The push service no longer knows this token: remove the registration. */
  onInvalidToken?(appId: string, token: string): void;
  /** Final outcome of each accepted push (after retries). */
  onSettled?(appId: string, notification: PushNotification, result: PushResult): void;
  logger?: Logger;
}

export interface PushCounters {
  /** Pushes the service accepted. */
  sent: number;
  /** Pushes that ended without delivery (permanent, retries exhausted, or invalid token). */
  failed: number;
  /** Retry attempts scheduled. */
  retried: number;
  /** Tokens reported through onInvalidToken. */
  invalidated: number;
  /** Pushes refused by dispatch() (unknown app, full queue, closed). */
  dropped: number;
}

interface Job {
  notification: PushNotification;
  attempt: number;
}

class Lane {
  readonly queue: Job[] = [];
  active = 0;
  constructor(readonly appId: string, readonly provider: PushProvider) {}
}

const defaults = Object.fromEntries(Object.entries(PUSH_DISPATCHER_OPTIONS).map(([k, spec]) => [k, spec.default])) as PushDispatcherOptions;

export class PushDispatcher {
  readonly counters: PushCounters = { sent: 0, failed: 0, retried: 0, invalidated: 0, dropped: 0 };
  private readonly options: PushDispatcherOptions;
  private readonly lanes = new Map<string, Lane>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly log: Logger;
  private closed = false;

  constructor(
    providers: ReadonlyMap<string, PushProvider>,
    options: Partial<PushDispatcherOptions> = {},
    private readonly hooks: PushDispatcherHooks = {},
  ) {
    this.options = { ...defaults, ...options };
    this.log = hooks.logger ?? createLogger('push');
    for (const [appId, provider] of providers) this.lanes.set(appId, new Lane(appId, provider));
  }

  /** Queues a push; returns false (and counts a drop) when it cannot be accepted. Never blocks. */
  dispatch(appId: string, notification: PushNotification): boolean {
    const lane = this.lanes.get(appId);
    if (this.closed || !lane || lane.queue.length >= this.options.maxQueuedPerApp) {
      this.counters.dropped += 1;
      if (!lane) this.log.warn(`push for unknown app ${appId} dropped`);
      return false;
    }
    lane.queue.push({ notification, attempt: 1 });
    this.pump(lane);
    return true;
  }

  /** Resolves when no push is queued, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting pushes, abandons pending retries and closes every provider. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    for (const lane of this.lanes.values()) lane.queue.length = 0;
    await Promise.all([...this.lanes.values()].map((lane) => lane.provider.close()));
    this.notifyIfIdle();
  }

  private pump(lane: Lane): void {
    while (!this.closed && lane.active < this.options.concurrencyPerApp && lane.queue.length > 0) {
      const job = lane.queue.shift()!;
      lane.active += 1;
      void this.attempt(lane, job).finally(() => {
        lane.active -= 1;
        this.pump(lane);
        this.notifyIfIdle();
      });
    }
  }

  private async attempt(lane: Lane, job: Job): Promise<void> {
    const result = await this.sendWithTimeout(lane.provider, job.notification);
    if (this.closed) return;
    if (result.status === 'failed-transient' && job.attempt < this.options.maxAttempts) {
      this.counters.retried += 1;
      this.scheduleRetry(lane, { notification: job.notification, attempt: job.attempt + 1 });
      return;
    }
    this.settle(lane.appId, job.notification, result);
  }

  private settle(appId: string, notification: PushNotification, result: PushResult): void {
    if (result.status === 'delivered') {
      this.counters.sent += 1;
    } else {
      this.counters.failed += 1;
      this.log.debug(`push to ${appId} ${result.status}: ${result.reason}`);
    }
    if (result.status === 'invalid-token') {
      this.counters.invalidated += 1;
      this.callHook(() => this.hooks.onInvalidToken?.(appId, notification.token));
    }
    this.callHook(() => this.hooks.onSettled?.(appId, notification, result));
  }

  /** Hooks belong to the owner; a throwing hook must not break delivery of other pushes. */
  private callHook(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log.error('push hook failed', err);
    }
  }

  private scheduleRetry(lane: Lane, job: Job): void {
    const exponential = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (job.attempt - 2));
    // Equal jitter: keeps at least half the delay, spreads retries of a burst apart.
    const delay = exponential / 2 + Math.random() * (exponential / 2);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      lane.queue.push(job);
      this.pump(lane);
    }, delay);
    // Pending retries must not keep a shutting-down process alive.
    timer.unref();
    this.retryTimers.add(timer);
  }

  private async sendWithTimeout(provider: PushProvider, n: PushNotification): Promise<PushResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<PushResult>((resolve) => {
      timer = setTimeout(() => resolve({ status: 'failed-transient', reason: 'timeout' }), this.options.requestTimeoutMs);
    });
    const sent = provider.send(n).catch((err: unknown): PushResult => {
      // Providers map errors to results; a throw is a bug, so do not retry it.
      this.log.error(`push provider ${provider.name} threw`, err);
      return { status: 'failed-permanent', reason: err instanceof Error ? err.message : String(err) };
    });
    try {
      return await Promise.race([sent, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private isIdle(): boolean {
    if (this.retryTimers.size > 0) return false;
    for (const lane of this.lanes.values()) if (lane.active > 0 || lane.queue.length > 0) return false;
    return true;
  }

  private notifyIfIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
