/**
 * Login storm: N accounts each do a full login (TCP, STARTTLS, SCRAM-SHA-1,
 * bind, roster get, initial presence) with a bounded number in flight, as
 * fast as the server accepts them. A first untimed round fills the SCRAM key
 * cache, so the timed round measures the server, not the generator's PBKDF2.
 */
import { summarize } from '../stats.js';
import type { ConnectResult } from '../worker/protocol.js';
import { accountRange, describeCpu, sleep, withCpu, type ScenarioContext, type ScenarioResult } from './context.js';

export async function runLoginStorm(context: ScenarioContext): Promise<ScenarioResult> {
  const { pool, options, log } = context;
  const shares = pool.split(accountRange(options.loginAccounts));
  const perWorkerConcurrency = Math.max(1, Math.ceil(options.loginConcurrency / pool.size));

  log(`login: warming the SCRAM cache with ${options.loginAccounts} untimed logins`);
  await pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorkerConcurrency }));
  await pool.all(() => ({ kind: 'disconnect-all' }));
  await sleep(1000);

  log(`login: ${options.loginAccounts} logins, ${options.loginConcurrency} in flight`);
  const { value: results, cpu } = await withCpu(context, () =>
    pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorkerConcurrency })),
  );
  await pool.all(() => ({ kind: 'disconnect-all' }));
  const connected = results.reduce((sum, result) => sum + result.connected, 0);
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  const latency = summarize(results.map((result) => result.loginMs));
  const loginsPerSecond = connected / cpu.wallSeconds;
  const errors = results.flatMap((result) => result.errors);
  log(
    `login: ${loginsPerSecond.toFixed(0)} logins/s, p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, ` +
      `${failed} failed; ${describeCpu(cpu)}`,
  );
  if (errors.length) log(`login: errors: ${errors.slice(0, 3).join(' | ')}`);
  await sleep(1000);
  return {
    scenario: 'login',
    figures: [
      { label: 'logins/s', value: loginsPerSecond, unit: '/s', better: 'higher' },
      { label: 'login p50', value: latency.p50, unit: 'ms', better: 'lower' },
      { label: 'login p99', value: latency.p99, unit: 'ms', better: 'lower' },
      { label: 'login failures', value: failed, unit: '', better: 'lower' },
    ],
    details: { accounts: options.loginAccounts, concurrency: options.loginConcurrency, connected, failed, latency, cpu, errors },
  };
}
