/**
 * Benchmark runner: starts one server at a time (pinned to --server-cpus),
 * provisions the same accounts on each, drives the scenarios from worker
 * processes pinned to --generator-cpus, prints one comparison table and
 * writes bench/results/<date>.json.
 *
 *   npx tsx bench/run.ts --servers sori,prosody,ejabberd --scenarios login,idle,chat,mam [--quick]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printTable, type ServerRun } from './report.js';
import { runArchiveQueries } from './scenarios/archive-queries.js';
import { runChatLoad } from './scenarios/chat-load.js';
import { waitForServerQuiet, type BenchOptions, type ScenarioContext, type ScenarioResult } from './scenarios/context.js';
import { runIdleSessions } from './scenarios/idle-sessions.js';
import { runLoginStorm } from './scenarios/login-storm.js';
import type { RunningServer, ServerLauncher } from './servers/common.js';
import { ejabberdLauncher } from './servers/ejabberd.js';
import { prosodyLauncher } from './servers/prosody.js';
import { soriIsRunnable, soriLauncher } from './servers/sori.js';
import { soriClusterLauncher } from './servers/sori-cluster.js';
import { accountName, type RegisterResult } from './worker/protocol.js';
import { generatorAllocator, WorkerPool } from './worker/pool.js';

const launchers: Record<string, ServerLauncher> = { sori: soriLauncher, prosody: prosodyLauncher, ejabberd: ejabberdLauncher, 'sori-cluster': soriClusterLauncher };
const scenarios: Record<string, (context: ScenarioContext) => Promise<ScenarioResult>> = {
  login: runLoginStorm,
  idle: runIdleSessions,
  chat: runChatLoad,
  mam: runArchiveQueries,
};
const PASSWORD = 'bench-secret';
const DOMAIN = 'localhost';

const { values: flags } = parseArgs({
  options: {
    servers: { type: 'string', default: 'sori,prosody,ejabberd,sori-cluster' },
    scenarios: { type: 'string', default: 'login,idle,chat,mam' },
    quick: { type: 'boolean', default: false },
    'login-accounts': { type: 'string' },
    'login-concurrency': { type: 'string' },
    idle: { type: 'string' },
    'idle-settle': { type: 'string' },
    pairs: { type: 'string' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    'fixed-rate': { type: 'string' },
    'fixed-seconds': { type: 'string' },
    'mam-queriers': { type: 'string' },
    'mam-seconds': { type: 'string' },
    'server-cpus': { type: 'string', default: '0' },
    'generator-cpus': { type: 'string', default: '1' },
    workers: { type: 'string' },
    transport: { type: 'string', default: 'tcp' },
    host: { type: 'string', default: '127.0.0.20' },
    priority: { type: 'string', default: '-10' },
    'c2s-port': { type: 'string', default: '5222' },
    'http-port': { type: 'string', default: '5280' },
  },
});

function numberFlag(name: keyof typeof flags, full: number, quick: number): number {
  const raw = flags[name];
  return typeof raw === 'string' ? Number(raw) : flags.quick ? quick : full;
}

const options: BenchOptions = {
  quick: flags.quick === true,
  loginAccounts: numberFlag('login-accounts', 2000, 200),
  loginConcurrency: (flags['login-concurrency'] ?? (flags.quick ? '100' : '100,200,300,500')).split(',').map(Number),
  idleSessions: numberFlag('idle', 10_000, 300),
  idleSettleSeconds: numberFlag('idle-settle', 20, 2),
  pairs: numberFlag('pairs', 1000, 100),
  rates: (flags.rates ?? (flags.quick ? '100,250,500,1000' : '250,500,1000,2000,3000,5000,6500,8000,9000,10000,11000,12500,15000')).split(',').map(Number),
  stepSeconds: numberFlag('step-seconds', 5, 2),
  fixedRate: numberFlag('fixed-rate', 100, 100),
  fixedSeconds: numberFlag('fixed-seconds', 10, 3),
  p99TargetMs: 100,
  mamQueriers: numberFlag('mam-queriers', 20, 10),
  mamSeconds: numberFlag('mam-seconds', 10, 3),
  mamPageSize: 50,
  connectConcurrency: 100,
};
const serverCpus = flags['server-cpus']!;
const generatorCpus = flags['generator-cpus']!;
const workerCount = Number(flags.workers ?? Math.max(1, cpuListSize(generatorCpus)));

function cpuListSize(list: string): number {
  if (!list) return os.cpus().length;
  return list.split(',').reduce((count, part) => {
    const [low, high] = part.split('-').map(Number);
    return count + (high === undefined ? 1 : high - low! + 1);
  }, 0);
}

function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function accountsNeeded(selected: string[]): number {
  let count = 0;
  if (selected.includes('login')) count = Math.max(count, options.loginAccounts);
  if (selected.includes('idle')) count = Math.max(count, options.idleSessions);
  if (selected.includes('chat') || selected.includes('mam')) count = Math.max(count, options.pairs * 2);
  return count;
}

async function provision(pool: WorkerPool, server: RunningServer, accountCount: number): Promise<void> {
  if (server.provisioning !== 'in-band') return;
  const started = performance.now();
  const shares = pool.split(Array.from({ length: accountCount }, (_, index) => index + 1));
  const results = await pool.all<RegisterResult>((index) => ({ kind: 'register', accounts: shares[index]!, concurrency: 50 }));
  const created = results.reduce((sum, result) => sum + result.created, 0);
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  log(`${server.name}: registered ${created} accounts in-band in ${((performance.now() - started) / 1000).toFixed(1)} s, ${failed} failed`);
  if (failed) throw new Error(`registration failed: ${results.flatMap((result) => result.errors).slice(0, 3).join(' | ')}`);
}

let serverToStopOnSignal: RunningServer | null = null;
/** Interrupted runs must not leave a server holding the ports. */
function stopServerOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping ${serverToStopOnSignal?.name ?? 'nothing'}`);
      void (serverToStopOnSignal?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
}

async function benchmarkServer(name: string, selected: string[]): Promise<ServerRun> {
  const launcher = launchers[name];
  if (!launcher) return { server: name, results: [], error: `unknown server ${name}` };
  if (name.startsWith('sori') && !soriIsRunnable()) {
    log('sori: skipped, src/main.ts does not exist yet');
    return { server: name, results: [], error: 'not runnable yet (no src/main.ts)' };
  }
  const skipped = launcher.scenarios ? selected.filter((scenario) => !launcher.scenarios!.includes(scenario)) : [];
  if (skipped.length > 0) log(`${name}: ${skipped.join(', ')} not run (this deployment is measured on ${launcher.scenarios!.join(', ')} only)`);
  selected = selected.filter((scenario) => !skipped.includes(scenario));
  if (selected.length === 0) return { server: name, results: [], error: `none of the selected scenarios applies (measured on ${launcher.scenarios!.join(', ')})` };
  const accountCount = accountsNeeded(selected);
  log(`${name}: starting (pinned to CPU ${serverCpus || 'any'})`);
  let server: RunningServer;
  try {
    server = await launcher.start({
      domain: DOMAIN,
      host: flags.host!,
      c2sPort: Number(flags['c2s-port']),
      httpPort: Number(flags['http-port']),
      cpus: serverCpus,
      allowPlainTcp: flags.transport === 'tcp-plain',
      accounts: { usernames: Array.from({ length: accountCount }, (_, index) => accountName(index + 1)), password: PASSWORD },
    });
  } catch (error) {
    log(`${name}: failed to start: ${String(error)}`);
    return { server: name, results: [], error: String(error) };
  }
  log(`${name}: ${server.version} running as pid ${server.pid}`);
  serverToStopOnSignal = server;
  giveServerOurPriority(server.pid);
  const pool = new WorkerPool(workerCount, generatorCpus);
  const run: ServerRun = { server: name, version: server.version, results: [] };
  try {
    const useWebSocket = flags.transport === 'ws';
    const plainTcp = flags.transport === 'tcp-plain';
    if (useWebSocket && !server.webSocketUrl) throw new Error(`${name} has no WebSocket endpoint`);
    await pool.all(() => ({
      kind: 'target',
      target: {
        host: server.host, port: server.c2sPort, domain: server.domain, password: PASSWORD, timeoutMs: 30_000,
        webSocketUrl: useWebSocket ? server.webSocketUrl : undefined, plainTcp, nodes: server.nodes,
      },
    }));
    await provision(pool, server, accountCount);
    const rates = flags.rates === undefined && launcher.chatRates ? launcher.chatRates[options.quick ? 'quick' : 'full'] : options.rates;
    const restartServer = async (): Promise<boolean> => {
      if (!server.restart) return false;
      await server.restart();
      giveServerOurPriority(server.pid);
      log(`${name}: restarted on its data, now pid ${server.pid}`);
      return true;
    };
    const context: ScenarioContext = { server, pool, options: { ...options, rates }, log: (line) => log(`${name} ${line}`), restartServer };
    for (const scenario of selected) {
      try {
        await waitForServerQuiet(context);
        run.results.push(await scenarios[scenario]!(context));
      } catch (error) {
        log(`${name} ${scenario}: failed: ${String(error)}`);
        await pool.all(() => ({ kind: 'disconnect-all' })).catch(() => undefined);
      }
    }
  } catch (error) {
    run.error = String(error);
    log(`${name}: ${run.error}`);
  } finally {
    pool.close();
    await server.stop();
    serverToStopOnSignal = null;
    log(`${name}: stopped`);
  }
  return run;
}

/**
 * The machine may be shared (tests, builds of other sessions). Linux groups
 * CPU time by session ("autogroup"), where plain nice values only rank
 * processes inside one session. So the runner re-runs itself in a session of
 * its own and lowers that session's autogroup nice value: the servers and the
 * generator (all children) then get the same head start over background work,
 * without touching anybody else's processes. --priority 0 turns this off.
 */
async function runInOwnSession(): Promise<boolean> {
  const priority = Number(flags.priority);
  if (!priority || process.env.SORI_BENCH_SESSION === '1') {
    if (priority) {
      try {
        writeFileSync('/proc/self/autogroup', String(priority));
      } catch (error) {
        log(`could not set the session's CPU priority (${String(error)}); background load will add noise`);
      }
    }
    return false;
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true, // setsid: a new session, hence a new autogroup
    stdio: 'inherit',
    env: { ...process.env, SORI_BENCH_SESSION: '1' },
  });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  return true;
}

/**
 * A server that daemonizes (ejabberd's `erl -detached` calls setsid) leaves
 * our session and its priority; give its new session the same value so every
 * server competes with background work on equal terms.
 */
function giveServerOurPriority(pid: number): void {
  const priority = Number(flags.priority);
  if (!priority) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(priority));
  } catch (error) {
    log(`could not set the server's CPU priority (${String(error)})`);
  }
}

function machineDescription(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    loadAverage: os.loadavg(),
    generatorAllocator: generatorAllocator ?? 'glibc',
  };
}

async function main(): Promise<void> {
  if (await runInOwnSession()) return;
  stopServerOnSignals();
  const selectedServers = flags.servers!.split(',').filter(Boolean);
  const selectedScenarios = flags.scenarios!.split(',').filter(Boolean);
  for (const scenario of selectedScenarios) if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  if (!['tcp', 'tcp-plain', 'ws'].includes(flags.transport!)) throw new Error(`--transport must be tcp (STARTTLS), tcp-plain or ws, not ${flags.transport}`);
  // The runner itself coordinates only, but it too stays off the server's core.
  if (generatorCpus) execFileSync('taskset', ['-a', '-p', '-c', generatorCpus, String(process.pid)], { stdio: 'ignore' });
  log(`servers ${selectedServers.join(',')}; scenarios ${selectedScenarios.join(',')}; ${options.quick ? 'quick' : 'full'} run; ` +
    `server CPU ${serverCpus || 'any'}, generator CPU ${generatorCpus || 'any'} with ${workerCount} worker(s) (${generatorAllocator ? 'jemalloc' : 'glibc malloc: install libjemalloc2 for a cheaper generator'}); transport ${flags.transport}`);
  const runs: ServerRun[] = [];
  for (const server of selectedServers) runs.push(await benchmarkServer(server, selectedScenarios));
  printTable(runs);
  const resultsDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDirectory, { recursive: true });
  const file = path.join(resultsDirectory, `${new Date().toISOString().replace(/[:]/g, '-').slice(0, 19)}${options.quick ? '-quick' : ''}.json`);
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), machine: machineDescription(), serverCpus, generatorCpus, workerCount, transport: flags.transport, options, runs }, null, 2),
  );
  log(`results written to ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
