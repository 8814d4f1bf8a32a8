/**
 * Archive: XEP-0313 (urn:xmpp:mam:2) queries for the newest page (RSM
 * max=50, <before/>) by a set of users, closed loop, while the chat load
 * runs at the fixed rate. The queriers' archives are filled first so every
 * page is full.
 */
import { summarize } from '../stats.js';
import type { MamResult } from '../worker/protocol.js';
import { connectPairs, describeStep, pairsPerWorker, runChatStep, warmUpPairs } from './chat-load.js';
import { sleep, type ScenarioContext, type ScenarioResult } from './context.js';

export async function runArchiveQueries(context: ScenarioContext): Promise<ScenarioResult> {
  const { options, pool, log } = context;
  const shares = pairsPerWorker(context, options.pairs);
  await connectPairs(context, shares);
  await warmUpPairs(context, shares);

  // Fill: only the queriers' pairs talk, until each querier has > 1 page archived.
  const querierCount = Math.min(options.mamQueriers, options.pairs);
  const fillShares = pairsPerWorker(context, querierCount);
  const fillRate = Math.min(300, Math.max(50, options.fixedRate * 2));
  const fillSeconds = Math.ceil((querierCount * (options.mamPageSize + 10)) / fillRate);
  const fill = await runChatStep(context, fillShares, fillRate, fillSeconds);
  log(`mam: archive fill ${describeStep(fill)}`);
  await sleep(1000);

  // The first member of each querier pair queries; pairsPerWorker deals pairs the same way, so workers match.
  const querierShares = fillShares.map((share) => share.map(([first]) => first));
  log(`mam: ${querierCount} users query pages of ${options.mamPageSize} for ${options.mamSeconds} s during chat at ${options.fixedRate} msg/s`);
  const [queries, chat] = await Promise.all([
    pool.all<MamResult>((index) => ({
      kind: 'mam',
      accounts: querierShares[index]!,
      durationMs: options.mamSeconds * 1000,
      pageSize: options.mamPageSize,
    })),
    runChatStep(context, shares, options.fixedRate, options.mamSeconds),
  ]);
  await pool.all(() => ({ kind: 'disconnect-all' }));
  const latency = summarize(queries.map((result) => result.latencyMs));
  const total = queries.reduce((sum, result) => sum + result.queries, 0);
  const failed = queries.reduce((sum, result) => sum + result.failed, 0);
  const messagesReturned = queries.reduce((sum, result) => sum + result.messagesReturned, 0);
  const errors = queries.flatMap((result) => result.errors);
  log(
    `mam: ${total} queries (${(total / options.mamSeconds).toFixed(0)}/s), ${failed} failed, p50 ${latency.p50.toFixed(1)} ms, ` +
      `p99 ${latency.p99.toFixed(1)} ms, ${(messagesReturned / Math.max(1, total)).toFixed(1)} messages/page; chat alongside: ${describeStep(chat)}`,
  );
  if (errors.length) log(`mam: errors: ${errors.slice(0, 3).join(' | ')}`);
  await sleep(2000);
  return {
    scenario: 'mam',
    figures: [
      { label: 'MAM query p50', value: latency.p50, unit: 'ms', better: 'lower' },
      { label: 'MAM query p99', value: latency.p99, unit: 'ms', better: 'lower' },
      { label: 'MAM queries/s', value: total / options.mamSeconds, unit: '/s', better: 'higher' },
      { label: 'chat p99 during MAM', value: chat.latency.p99, unit: 'ms', better: 'lower' },
    ],
    details: { queriers: querierCount, pageSize: options.mamPageSize, total, failed, messagesReturned, latency, fill, chat, errors },
  };
}
