/**
 * A load-generator worker process (forked by pool.ts). It owns a set of XMPP
 * connections and runs the commands in protocol.ts against them. Both ends of
 * a chat pair live in the same worker, so sender and receiver share one
 * monotonic clock (performance.now) and latency needs no clock sync.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { XmppClient } from '../client/xmpp-client.js';
import { SampleBuffer } from '../stats.js';
import {
  accountName, type ChatResult, type Command, type ConnectResult, type CpuResult, type MamResult, type RegisterResult,
  type Reply, type Target,
} from './protocol.js';

const RESOURCE = 'bench';
const MAX_ERRORS_KEPT = 5;

let target: Target | null = null;
const sessions = new Map<number, XmppClient>();

function clientFor(account: number): XmppClient {
  if (!target) throw new Error('no target set');
  const node = target.nodes?.[account % target.nodes.length];
  return new XmppClient({
    host: node?.host ?? target.host,
    port: node?.port ?? target.port,
    domain: target.domain,
    webSocketUrl: target.webSocketUrl,
    plainTcp: target.plainTcp,
    username: accountName(account),
    password: target.password,
    resource: RESOURCE,
    timeoutMs: target.timeoutMs,
  });
}

/** Run `task` over `items` with at most `concurrency` in flight. */
async function forEachLimited<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) await task(items[next++]!);
  });
  await Promise.all(lanes);
}

function keepError(errors: string[], error: unknown): void {
  if (errors.length < MAX_ERRORS_KEPT) errors.push(error instanceof Error ? error.message : String(error));
}

async function register(accounts: number[], concurrency: number): Promise<RegisterResult> {
  const result: RegisterResult = { created: 0, existed: 0, failed: 0, errors: [] };
  await forEachLimited(accounts, concurrency, async (account) => {
    try {
      const outcome = await clientFor(account).register();
      if (outcome === 'created') result.created++;
      else result.existed++;
    } catch (error) {
      result.failed++;
      keepError(result.errors, error);
    }
  });
  return result;
}

async function connect(accounts: number[], concurrency: number): Promise<ConnectResult> {
  const started = performance.now();
  const loginMs = new SampleBuffer();
  const result = { connected: 0, failed: 0, errors: [] as string[] };
  await forEachLimited(accounts, concurrency, async (account) => {
    const client = clientFor(account);
    try {
      const timings = await client.login();
      loginMs.push(timings.totalMs);
      sessions.set(account, client);
      client.onMessage = onChatMessage;
      result.connected++;
    } catch (error) {
      result.failed++;
      keepError(result.errors, error);
    }
  });
  return { ...result, loginMs: loginMs.toArray(), elapsedMs: performance.now() - started };
}

function disconnectAll(): { closed: number; dropped: number } {
  let dropped = 0;
  for (const client of sessions.values()) {
    if (client.closed) dropped++;
    client.close();
  }
  const closed = sessions.size;
  sessions.clear();
  return { closed, dropped };
}

// ---- chat: bodies carry "<step> <scheduled send time>"; receivers file latencies per step ----

interface StepTally {
  received: number;
  latencies: SampleBuffer;
}
const stepTallies = new Map<number, StepTally>();
let mamResultMessages = 0;
/** BENCH_SLOW_MS=N prints each delivery slower than N ms with its wall-clock send time, to line tail spikes up with server logs. */
const slowDeliveryMs = Number(process.env.BENCH_SLOW_MS ?? 0);

function onChatMessage(stanza: string): void {
  const bodyStart = stanza.indexOf('<body>');
  if (bodyStart < 0) return;
  // Archive results (MAM) carry old bodies inside <result>: count them, do not time them.
  if (stanza.includes('urn:xmpp:mam:2')) {
    mamResultMessages++;
    return;
  }
  const now = performance.now();
  const space = stanza.indexOf(' ', bodyStart);
  const step = Number(stanza.slice(bodyStart + 6, space));
  const sentAt = Number(stanza.slice(space + 1, stanza.indexOf('<', space)));
  const tally = stepTallies.get(step);
  if (!tally) return;
  tally.received++;
  tally.latencies.push(now - sentAt);
  if (slowDeliveryMs > 0 && now - sentAt > slowDeliveryMs) {
    process.stderr.write(`[slow] sent ${new Date(performance.timeOrigin + sentAt).toISOString()} took ${(now - sentAt).toFixed(1)} ms\n`);
  }
}

async function chat(command: Extract<Command, { kind: 'chat' }>): Promise<ChatResult> {
  const { pairs, ratePerSecond, durationMs, drainMs, step } = command;
  const tally: StepTally = { received: 0, latencies: new SampleBuffer() };
  stepTallies.set(step, tally);
  const errors: string[] = [];
  const usable = pairs.filter(([a, b]) => sessions.get(a) && !sessions.get(a)!.closed && sessions.get(b) && !sessions.get(b)!.closed);
  if (usable.length < pairs.length) keepError(errors, `${pairs.length - usable.length} pairs had a closed session`);
  const jids = new Map<number, string>();
  for (const [a, b] of usable) {
    jids.set(a, `${accountName(a)}@${target!.domain}`);
    jids.set(b, `${accountName(b)}@${target!.domain}`);
  }
  let sent = 0;
  let maxSendLagMs = 0;
  // A receiver that is late reading its socket adds to every latency it files; this says how late it could have been.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const started = performance.now();
  const intervalMs = 1000 / ratePerSecond;
  const total = usable.length === 0 ? 0 : Math.floor((ratePerSecond * durationMs) / 1000);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - started) / intervalMs) + 1);
      while (sent < due) {
        // Message k goes round the pairs; the direction flips every lap so every client sends and receives.
        const pair = usable[sent % usable.length]!;
        const forward = Math.floor(sent / usable.length) % 2 === 0;
        const [from, to] = forward ? pair : [pair[1], pair[0]];
        const scheduledAt = started + sent * intervalMs;
        maxSendLagMs = Math.max(maxSendLagMs, now - scheduledAt);
        sessions.get(from)!.send(`<message to='${jids.get(to)}' type='chat'><body>${step} ${now}</body></message>`);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.min(10, Math.max(1, intervalMs)));
    };
    tick();
  });
  const drainDeadline = performance.now() + drainMs;
  while (tally.received < sent && performance.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 20));
  stepTallies.delete(step);
  loopDelay.disable();
  const generatorStallMs = loopDelay.max / 1e6;
  return { sent, received: tally.received, latencyMs: tally.latencies.toArray(), maxSendLagMs, generatorStallMs, errors };
}

// ---- MAM: each account queries the newest page of its archive, closed loop ----

async function mam(command: Extract<Command, { kind: 'mam' }>): Promise<MamResult> {
  const latencies = new SampleBuffer();
  const result = { queries: 0, failed: 0, errors: [] as string[] };
  const messagesBefore = mamResultMessages;
  const deadline = performance.now() + command.durationMs;
  await Promise.all(
    command.accounts.map(async (account) => {
      const client = sessions.get(account);
      if (!client) return;
      let sequence = 0;
      while (performance.now() < deadline && !client.closed) {
        const started = performance.now();
        const reply = await client.iq(
          (id) =>
            `<iq type='set' id='${id}'><query xmlns='urn:xmpp:mam:2' queryid='m${sequence++}'><set xmlns='http://jabber.org/protocol/rsm'><max>${command.pageSize}</max><before/></set></query></iq>`,
        );
        result.queries++;
        if (reply.includes("type='result'") || reply.includes('type="result"')) latencies.push(performance.now() - started);
        else {
          result.failed++;
          keepError(result.errors, reply.slice(0, 200));
        }
      }
    }),
  );
  return { ...result, latencyMs: latencies.toArray(), messagesReturned: mamResultMessages - messagesBefore };
}

let cpuAtLastRead = process.cpuUsage();
let eventLoopAtLastRead = performance.eventLoopUtilization();
function cpu(): CpuResult {
  const delta = process.cpuUsage(cpuAtLastRead);
  const eventLoop = performance.eventLoopUtilization(eventLoopAtLastRead);
  cpuAtLastRead = process.cpuUsage();
  eventLoopAtLastRead = performance.eventLoopUtilization();
  return { userMicros: delta.user, systemMicros: delta.system, eventLoopUtilization: eventLoop.utilization };
}

async function run(command: Command): Promise<unknown> {
  switch (command.kind) {
    case 'target':
      target = command.target;
      return null;
    case 'register':
      return register(command.accounts, command.concurrency);
    case 'connect':
      return connect(command.accounts, command.concurrency);
    case 'disconnect-all':
      return disconnectAll();
    case 'chat':
      return chat(command);
    case 'mam':
      return mam(command);
    case 'cpu':
      return cpu();
  }
}

process.on('message', (message: { id: number; command: Command }) => {
  run(message.command).then(
    (result) => process.send!({ id: message.id, ok: true, result } satisfies Reply),
    (error: unknown) => process.send!({ id: message.id, ok: false, error: String(error) } satisfies Reply),
  );
});
process.on('disconnect', () => process.exit(0));
