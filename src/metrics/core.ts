import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { ClientSession } from '../xmpp/session.js';
import type { Counter, CounterSeries, Histogram, MetricsRegistry } from './registry.js';

const LOOP_DELAY_RESOLUTION_MS = 10;
let loopDelay: IntervalHistogram | undefined;

/**
 * One sampler for the process, shared by every server in it (tests start many; each sampler is a 10 ms timer),
 * whose timer does not keep the process alive. A reading by any of them restarts it.
 */
function eventLoopDelay(): IntervalHistogram {
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
  }
  return loopDelay;
}

const TRANSPORTS: ReadonlyArray<ClientSession['transport']> = ['tcp', 'websocket', 'bosh'];

/** The counters the core itself keeps; modules register their own through ServerApi.metrics. */
export interface CoreCounters {
  /** Stanzas received from this node's clients, by kind (series kept: one count per stanza). */
  readonly stanzasIn: { message: CounterSeries; presence: CounterSeries; iq: CounterSeries };
  /** Successful SASL authentications, by mechanism. */
  readonly logins: Counter;
  /** Failed SASL attempts, by RFC 6120 §6.5 condition. */
  readonly authFailures: Counter;
  /** Stream errors this node sent, by RFC 6120 §4.9.3 condition. */
  readonly streamErrors: Counter;
  /** From a client connecting to its resource being bound: TLS, authentication and binding, as the user waits for them. */
  readonly loginSeconds: Histogram;
}

/**
 * Registers what every sori node reports: its sessions, the counters the
 * core keeps, and the process (CPU, memory, event loop) under the names
 * Prometheus's client libraries use (`process_*`, `nodejs_*`), so existing
 * Node.js dashboards work unchanged.
 */
export function registerCoreMetrics(metrics: MetricsRegistry, sessions: () => Iterable<ClientSession>): CoreCounters {
  metrics.gauge('sori_sessions', 'Bound client sessions on this node, by transport and whether a connection is attached (XEP-0198 hibernated sessions have none).', () => {
    // Every transport's connected count is there, 0 included, so a dashboard shows 0 rather than no data.
    const counts = new Map<string, number>(TRANSPORTS.map((t) => [`${t}\u0000connected`, 0]));
    for (const s of sessions()) {
      const key = `${s.transport}\u0000${s.connected ? 'connected' : 'hibernated'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, n]) => [key.split('\u0000'), n] as const);
  }, ['transport', 'state']);
  const stanzas = metrics.counter('sori_stanzas_received_total', 'Stanzas received from clients on this node, by kind.', ['kind']);
  const counters: CoreCounters = {
    stanzasIn: { message: stanzas.series('message'), presence: stanzas.series('presence'), iq: stanzas.series('iq') },
    logins: metrics.counter('sori_logins_total', 'Successful client authentications, by SASL mechanism.', ['mechanism']),
    authFailures: metrics.counter('sori_auth_failures_total', 'Failed client authentication attempts, by SASL failure condition.', ['condition']),
    streamErrors: metrics.counter('sori_stream_errors_total', 'Stream errors sent to clients, by condition.', ['condition']),
    loginSeconds: metrics.histogram('sori_login_seconds', 'Time from a client connecting to its resource being bound (TLS, authentication, binding), in seconds.', [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  };

  const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
  metrics.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', () => startSeconds);
  metrics.counterFrom('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
  metrics.gauge('process_resident_memory_bytes', 'Resident memory size, in bytes.', () => process.memoryUsage.rss());
  metrics.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.', () => getHeapStatistics().used_heap_size);
  metrics.gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved, in bytes.', () => getHeapStatistics().total_heap_size);
  metrics.gauge('nodejs_external_memory_bytes', 'Memory outside the V8 heap that V8 is told of (buffers, TLS), in bytes.', () => getHeapStatistics().external_memory);
  // Cumulative, so rate() over any window is the event loop's utilisation in that window.
  metrics.counterFrom('nodejs_eventloop_active_seconds_total', 'Time the event loop spent running callbacks, in seconds; rate() of it is the utilisation.', () => performance.eventLoopUtilization().active / 1000);
  // Utilisation shows how busy the loop is, not whether it stalled: one 100 ms collection or synchronous task holds every
  // stanza on the node for that long and barely moves it. Reset at each reading, as prom-client does.
  const delay = eventLoopDelay();
  metrics.gauge('nodejs_eventloop_lag_max_seconds', 'Longest time the event loop was held since the previous scrape, in seconds (a 10 ms timer, late by this much at worst): how long the whole node stalled. Each scrape resets it.', () => {
    const lateBy = Math.max(0, delay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS) / 1000;
    delay.reset();
    return lateBy;
  });
  return counters;
}
