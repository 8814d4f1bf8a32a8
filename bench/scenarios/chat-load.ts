/**
 * One-to-one chat, amoc-style: pairs of connected users exchange type='chat'
 * messages to bare JIDs; each body carries the moment it was written to the
 * socket and the receiver computes delivery latency. Writes never block (a
 * slow server shows up as buffered, hence late, messages), so the only delay
 * this leaves out is the generator's own scheduling lag behind the target
 * rate; that is reported separately as "generator lag" so a starved
 * generator cannot pass for a slow server, nor hide. Rates are total messages/s over all pairs, rising in steps; a
 * step passes when nothing is lost and p99 < the target; a step that fails
 * on latency alone is retried once after a pause, then the ramp stops.
 */
import { summarize, type LatencySummary } from '../stats.js';
import type { ChatResult, ConnectResult } from '../worker/protocol.js';
import { describeCpu, sleep, waitForServerQuiet, withCpu, type CpuReport, type ScenarioContext, type ScenarioResult } from './context.js';

export interface ChatStepResult {
  rate: number;
  sent: number;
  received: number;
  lost: number;
  latency: LatencySummary;
  maxSendLagMs: number;
  generatorStallMs: number;
  cpu: CpuReport;
  errors: string[];
}

let nextStepId = 1;

/** Pairs (1,2), (3,4), … dealt to workers so both ends of a pair share a worker and its clock. */
export function pairsPerWorker(context: ScenarioContext, pairCount: number): [number, number][][] {
  const pairs = Array.from({ length: pairCount }, (_, index): [number, number] => [2 * index + 1, 2 * index + 2]);
  return context.pool.split(pairs);
}

export async function connectPairs(context: ScenarioContext, shares: [number, number][][]): Promise<number> {
  const perWorkerConcurrency = Math.max(1, Math.ceil(context.options.connectConcurrency / context.pool.size));
  const results = await context.pool.all<ConnectResult>((index) => ({
    kind: 'connect',
    accounts: shares[index]!.flat(),
    concurrency: perWorkerConcurrency,
  }));
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  if (failed) context.log(`chat: ${failed} logins failed: ${results.flatMap((result) => result.errors).slice(0, 2).join(' | ')}`);
  return results.reduce((sum, result) => sum + result.connected, 0);
}

export async function runChatStep(
  context: ScenarioContext,
  shares: [number, number][][],
  rate: number,
  seconds: number,
): Promise<ChatStepResult> {
  const step = nextStepId++;
  const totalPairs = shares.reduce((sum, share) => sum + share.length, 0);
  const drainMs = Math.max(3000, seconds * 1000);
  const { value: results, cpu } = await withCpu(context, () =>
    context.pool.all<ChatResult>((index) => ({
      kind: 'chat',
      pairs: shares[index]!,
      // Each worker sends its share of the total rate, in proportion to the pairs it holds.
      ratePerSecond: (rate * shares[index]!.length) / totalPairs,
      durationMs: seconds * 1000,
      drainMs,
      step,
    })),
  );
  const sent = results.reduce((sum, result) => sum + result.sent, 0);
  const received = results.reduce((sum, result) => sum + result.received, 0);
  return {
    rate,
    sent,
    received,
    lost: sent - received,
    latency: summarize(results.map((result) => result.latencyMs)),
    maxSendLagMs: Math.max(...results.map((result) => result.maxSendLagMs)),
    generatorStallMs: Math.max(...results.map((result) => result.generatorStallMs)),
    cpu,
    errors: results.flatMap((result) => result.errors),
  };
}

export function describeStep(result: ChatStepResult): string {
  return (
    `${result.rate} msg/s: sent ${result.sent}, lost ${result.lost}, p50 ${result.latency.p50.toFixed(1)} ms, ` +
    `p99 ${result.latency.p99.toFixed(1)} ms, max ${result.latency.max.toFixed(0)} ms, generator lag ${result.maxSendLagMs.toFixed(0)} ms, generator stall ${result.generatorStallMs.toFixed(0)} ms; ${describeCpu(result.cpu)}`
  );
}

/**
 * Untimed: every user sends once and receives once before anything is
 * measured. First messages are special on some servers (Prosody's mod_mam
 * records each user's first archived message of the day in a map store that
 * it rewrites whole each time: 2,000 first messages took it ~20 s at one
 * core), and a ramp should measure the steady state. Then wait for quiet.
 */
export async function warmUpPairs(context: ScenarioContext, shares: [number, number][][]): Promise<ChatStepResult> {
  const pairCount = shares.reduce((sum, share) => sum + share.length, 0);
  const rate = Math.max(100, context.options.fixedRate);
  const warmUp = await runChatStep(context, shares, rate, Math.ceil((2 * pairCount) / rate));
  context.log(`chat warm-up (untimed) ${describeStep(warmUp)}`);
  await waitForServerQuiet(context);
  return warmUp;
}

export async function runChatLoad(context: ScenarioContext): Promise<ScenarioResult> {
  const { options, log } = context;
  const shares = pairsPerWorker(context, options.pairs);
  const connected = await connectPairs(context, shares);
  log(`chat: ${connected} of ${options.pairs * 2} users connected in ${options.pairs} pairs`);
  const warmUp = await warmUpPairs(context, shares);

  const fixed = await runChatStep(context, shares, options.fixedRate, options.fixedSeconds);
  log(`chat fixed ${describeStep(fixed)}`);
  const steps: ChatStepResult[] = [];
  let highestPassing = 0;
  const passes = (result: ChatStepResult): boolean => result.lost === 0 && result.latency.p99 < options.p99TargetMs;
  for (const rate of options.rates) {
    await sleep(1000);
    let result = await runChatStep(context, shares, rate, options.stepSeconds);
    steps.push(result);
    log(`chat step ${describeStep(result)} ${passes(result) ? 'PASS' : 'FAIL'}`);
    if (!passes(result) && result.lost === 0) {
      // One retry after a pause, so a single hiccup (GC, a neighbour's burst) does not end the ramp.
      await sleep(3000);
      result = await runChatStep(context, shares, rate, options.stepSeconds);
      steps.push(result);
      log(`chat step (retry) ${describeStep(result)} ${passes(result) ? 'PASS' : 'FAIL'}`);
    }
    if (result.errors.length) log(`chat: ${result.errors.slice(0, 3).join(' | ')}`);
    if (!passes(result)) break; // an overloaded server carries its backlog into the next step: stop here
    highestPassing = rate;
  }
  await context.pool.all(() => ({ kind: 'disconnect-all' }));
  await sleep(2000);
  return {
    scenario: 'chat',
    figures: [
      { label: `max msg/s (p99<${options.p99TargetMs}ms, 0 lost)`, value: highestPassing, unit: '/s', better: 'higher' },
      { label: `chat p50 @${options.fixedRate}/s`, value: fixed.latency.p50, unit: 'ms', better: 'lower' },
      { label: `chat p99 @${options.fixedRate}/s`, value: fixed.latency.p99, unit: 'ms', better: 'lower' },
      { label: `chat lost @${options.fixedRate}/s`, value: fixed.lost, unit: '', better: 'lower' },
    ],
    details: { pairs: options.pairs, connected, warmUp, fixed, steps, highestPassing, p99TargetMs: options.p99TargetMs },
  };
}
