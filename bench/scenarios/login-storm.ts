/**
 * Login storm: N accounts each do a full login (TCP, STARTTLS, SCRAM-SHA-1,
 * bind, roster get, initial presence) with a bounded number in flight, as
 * fast as the server accepts them. Untimed rounds first fill the SCRAM key
 * cache, so the timed rounds measure the server, not the generator's PBKDF2.
 * One timed round runs per level of logins in flight; the best counts.
 */
import { summarize } from '../stats.js';
import type { ConnectResult } from '../worker/protocol.js';
import { accountRange, describeCpu, sleep, withCpu, type CpuReport, type ScenarioContext, type ScenarioResult } from './context.js';

interface LoginRound {
  concurrency: number;
  connected: number;
  failed: number;
  loginsPerSecond: number;
  latency: ReturnType<typeof summarize>;
  cpu: CpuReport;
  errors: string[];
}

export async function runLoginStorm(context: ScenarioContext): Promise<ScenarioResult> {
  const { pool, options, log } = context;
  const shares = pool.split(accountRange(options.loginAccounts));
  const perWorker = (concurrency: number): number => Math.max(1, Math.ceil(concurrency / pool.size));

  // Two untimed rounds: the first fills the generator's SCRAM key cache; after the
  // second, every timed login is a reconnect of an account the server has seen log
  // in, at every level alike (sori's embedded store keeps partitions from their
  // second read on; ejabberd's Mnesia holds everything in RAM anyway).
  for (const round of ['first', 'second']) {
    log(`login: ${round} untimed round of ${options.loginAccounts} logins`);
    await pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorker(options.loginConcurrency[0]!) }));
    await pool.all(() => ({ kind: 'disconnect-all' }));
    await sleep(1000);
  }

  const rounds: LoginRound[] = [];
  for (const concurrency of options.loginConcurrency) {
    log(`login: ${options.loginAccounts} logins, ${concurrency} in flight`);
    const { value: results, cpu } = await withCpu(context, () =>
      pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorker(concurrency) })),
    );
    await pool.all(() => ({ kind: 'disconnect-all' }));
    const connected = results.reduce((sum, result) => sum + result.connected, 0);
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    const round: LoginRound = {
      concurrency,
      connected,
      failed,
      loginsPerSecond: connected / cpu.wallSeconds,
      latency: summarize(results.map((result) => result.loginMs)),
      cpu,
      errors: results.flatMap((result) => result.errors),
    };
    rounds.push(round);
    log(
      `login: ${round.loginsPerSecond.toFixed(0)} logins/s with ${concurrency} in flight, p50 ${round.latency.p50.toFixed(1)} ms, ` +
        `p99 ${round.latency.p99.toFixed(1)} ms, ${failed} failed; ${describeCpu(cpu)}`,
    );
    if (round.errors.length) log(`login: errors: ${round.errors.slice(0, 3).join(' | ')}`);
    await sleep(1000);
  }
  // "As fast as the server accepts": a server not yet saturated at one level may be at the next.
  const clean = rounds.filter((round) => round.failed === 0);
  const best = (clean.length > 0 ? clean : rounds).reduce((a, b) => (b.loginsPerSecond > a.loginsPerSecond ? b : a));
  const failed = rounds.reduce((sum, round) => sum + round.failed, 0);
  // The best round may run at a different level on each server; the first level is the same for all.
  const common = rounds[0]!;
  return {
    scenario: 'login',
    figures: [
      { label: 'logins/s', value: best.loginsPerSecond, unit: '/s', better: 'higher' },
      { label: 'login p50', value: best.latency.p50, unit: 'ms', better: 'lower' },
      { label: 'login p99', value: best.latency.p99, unit: 'ms', better: 'lower' },
      { label: 'logins in flight (best)', value: best.concurrency, unit: '', better: 'none' },
      { label: `login p99 @${common.concurrency} in flight`, value: common.latency.p99, unit: 'ms', better: 'lower' },
      { label: 'login failures', value: failed, unit: '', better: 'lower' },
    ],
    details: { accounts: options.loginAccounts, concurrency: best.concurrency, connected: best.connected, failed, latency: best.latency, cpu: best.cpu, errors: best.errors, rounds },
  };
}
