/**
 * Idle connections: hold N authenticated TLS sessions (full login including
 * initial presence) and report the server's RSS growth per session, read
 * from /proc/<pid>/status VmRSS before and after (after a settle pause).
 * The server is restarted on its data first: a process that has been through
 * the login storm keeps that storm's high-water mark, and sessions opened
 * later fill the memory it freed, which hides part of what they cost (down
 * to nothing for small WebSocket sessions). The sessions open in two halves,
 * so the figures also give the cost of the second half alone: the marginal
 * cost of one more session, without what a process commits once (heap
 * spaces, allocator arenas).
 * Also reports how long the server stays busy after they all disconnect.
 */
import { readRssBytes } from '../servers/common.js';
import type { ConnectResult } from '../worker/protocol.js';
import { accountRange, describeCpu, sleep, waitForServerQuiet, withCpu, type CpuReport, type ScenarioContext, type ScenarioResult } from './context.js';

export async function runIdleSessions(context: ScenarioContext): Promise<ScenarioResult> {
  const { pool, options, server, log } = context;
  const fresh = await context.restartServer();
  if (!fresh) log('idle: this deployment cannot restart; RSS is measured on the process as the earlier scenarios left it');
  const half = Math.ceil(options.idleSessions / 2);
  const halves = [accountRange(half), accountRange(options.idleSessions - half, half + 1)].map((accounts) => pool.split(accounts));
  const perWorkerConcurrency = Math.max(1, Math.ceil(options.connectConcurrency / pool.size));
  await waitForServerQuiet(context);
  const rssBefore = readRssBytes(server.pid);
  log(`idle: opening ${options.idleSessions} sessions in two halves (server RSS before ${(rssBefore / 2 ** 20).toFixed(1)} MiB${fresh ? ', freshly started' : ''})`);
  const openHalf = async (shares: number[][]): Promise<{ results: ConnectResult[]; rss: number; settle: number[]; cpu: CpuReport }> => {
    const { value: results, cpu } = await withCpu(context, () =>
      pool.all<ConnectResult>((index) => ({ kind: 'connect', accounts: shares[index]!, concurrency: perWorkerConcurrency })),
    );
    // RSS each second of the settle pause: how far the server gives memory back once the logins are over.
    const settle: number[] = [];
    for (let second = 0; second < options.idleSettleSeconds; second++) {
      await sleep(1000);
      settle.push(readRssBytes(server.pid));
    }
    const rss = readRssBytes(server.pid);
    const connected = results.reduce((sum, result) => sum + result.connected, 0);
    log(`idle: ${connected} more held, RSS ${(rss / 2 ** 20).toFixed(1)} MiB; connecting: ${describeCpu(cpu)}`);
    return { results, rss, settle, cpu };
  };
  const first = await openHalf(halves[0]!);
  const second = await openHalf(halves[1]!);
  const results = [...first.results, ...second.results];
  const rssAfter = second.rss;
  const closing = await pool.all<{ closed: number; dropped: number }>(() => ({ kind: 'disconnect-all' }));
  const connected = results.reduce((sum, result) => sum + result.connected, 0);
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  const droppedWhileIdle = closing.reduce((sum, result) => sum + result.dropped, 0);
  const bytesPerSession = connected > 0 ? (rssAfter - rssBefore) / connected : NaN;
  const connectedSecondHalf = second.results.reduce((sum, result) => sum + result.connected, 0);
  const marginalBytesPerSession = connectedSecondHalf > 0 ? (rssAfter - first.rss) / connectedSecondHalf : NaN;
  const errors = results.flatMap((result) => result.errors);
  log(
    `idle: ${connected} held, ${failed} failed, ${droppedWhileIdle} dropped while idle; RSS ${(rssAfter / 2 ** 20).toFixed(1)} MiB, ` +
      `${(bytesPerSession / 1024).toFixed(1)} KiB/session, ${(marginalBytesPerSession / 1024).toFixed(1)} KiB/session in the second half`,
  );
  if (errors.length) log(`idle: errors: ${errors.slice(0, 3).join(' | ')}`);
  const teardownSeconds = await waitForServerQuiet(context, 600);
  log(`idle: the server took ${teardownSeconds.toFixed(0)} s to tear the sessions down`);
  return {
    scenario: 'idle',
    figures: [
      { label: 'KiB per idle session', value: bytesPerSession / 1024, unit: 'KiB', better: 'lower' },
      { label: 'KiB per idle session, second half', value: marginalBytesPerSession / 1024, unit: 'KiB', better: 'lower' },
      { label: 'idle sessions held', value: connected - droppedWhileIdle, unit: '', better: 'higher' },
      { label: 'idle teardown (to CPU idle)', value: teardownSeconds, unit: 's', better: 'lower' },
    ],
    details: { requested: options.idleSessions, connected, teardownSeconds, failed, droppedWhileIdle, freshServer: fresh, rssBefore, rssAtHalf: first.rss, rssAfter, bytesPerSession, marginalBytesPerSession, connectCpu: [first.cpu, second.cpu], rssWhileSettling: [first.settle, second.settle], errors },
  };
}
