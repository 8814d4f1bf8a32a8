/**
 * Idle connections: hold N authenticated TLS sessions (full login including
 * initial presence) and report the server's RSS growth per session, read
 * from /proc/<pid>/status VmRSS before and after (after a settle pause).
 * Also reports how long the server stays busy after they all disconnect.
 */
import { readRssBytes } from '../servers/common.js';
import type { ConnectResult } from '../worker/protocol.js';
import { accountRange, describeCpu, sleep, waitForServerQuiet, withCpu, type ScenarioContext, type ScenarioResult } from './context.js';

export async function runIdleSessions(context: ScenarioContext): Promise<ScenarioResult> {
  const { pool, options, server, log } = context;
  const shares = pool.split(accountRange(options.idleSessions));
  const perWorkerConcurrency = Math.max(1, Math.ceil(options.connectConcurrency / pool.size));
  await waitForServerQuiet(context);
  const rssBefore = readRssBytes(server.pid);
  log(`idle: opening ${options.idleSessions} sessions (server RSS before ${(rssBefore / 2 ** 20).toFixed(1)} MiB)`);
  const { value: results, cpu } = await withCpu(context, () =>
    pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorkerConcurrency })),
  );
  await sleep(options.idleSettleSeconds * 1000);
  const rssAfter = readRssBytes(server.pid);
  const closing = await pool.all<{ closed: number; dropped: number }>(() => ({ kind: 'disconnect-all' }));
  const connected = results.reduce((sum, result) => sum + result.connected, 0);
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  const droppedWhileIdle = closing.reduce((sum, result) => sum + result.dropped, 0);
  const bytesPerSession = connected > 0 ? (rssAfter - rssBefore) / connected : NaN;
  const errors = results.flatMap((result) => result.errors);
  log(
    `idle: ${connected} held, ${failed} failed, ${droppedWhileIdle} dropped while idle; RSS ${(rssAfter / 2 ** 20).toFixed(1)} MiB, ` +
      `${(bytesPerSession / 1024).toFixed(1)} KiB/session; connecting: ${describeCpu(cpu)}`,
  );
  if (errors.length) log(`idle: errors: ${errors.slice(0, 3).join(' | ')}`);
  const teardownSeconds = await waitForServerQuiet(context, 600);
  log(`idle: the server took ${teardownSeconds.toFixed(0)} s to tear the sessions down`);
  return {
    scenario: 'idle',
    figures: [
      { label: 'KiB per idle session', value: bytesPerSession / 1024, unit: 'KiB', better: 'lower' },
      { label: 'idle sessions held', value: connected - droppedWhileIdle, unit: '', better: 'higher' },
      { label: 'idle teardown (to CPU idle)', value: teardownSeconds, unit: 's', better: 'lower' },
    ],
    details: { requested: options.idleSessions, connected, teardownSeconds, failed, droppedWhileIdle, rssBefore, rssAfter, bytesPerSession, cpu, errors },
  };
}
