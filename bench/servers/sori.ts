/**
 * sori launcher, kept small and isolated because sori's config and account
 * tooling are still being written. It runs `node --import tsx src/main.ts
 * --config <file>` directly (not through npx) so the spawned pid is the
 * server process whose RSS and CPU we read.
 *
 * Accounts are created in-band (XEP-0077, sori's `register` module enabled
 * and unthrottled), like on Prosody and ejabberd. Setting
 * SORI_REGISTRATION_MODULE to null falls back to `src/ctl.ts adduser` before
 * start, one process per account (~1.5 s each: 300 accounts took 7.5 min).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeRunDirectory, pinned, restartableServer, scrapeEventLoopStallMs, stopProcess, waitForPort, waitForPortFree, writeSelfSignedCertificate,
  type LaunchOptions, type RunningServer, type ServerLauncher,
} from './common.js';
import { nodeRuntimeFlags } from '../../src/node-flags.js';

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** sori's XEP-0077 module (off by default); null falls back to `ctl adduser` before start. */
const SORI_REGISTRATION_MODULE: string | null = 'register';

export function soriIsRunnable(): boolean {
  return existsSync(path.join(repositoryRoot, 'src', 'main.ts'));
}

/** Config in sori's JSON format (src/config.ts); fairness: no per-connection read limit that shapers-off peers lack. */
export function soriConfig(directory: string, options: LaunchOptions, tls: { certificate: string; key: string }): Record<string, Record<string, unknown>> {
  return {
    server: { hosts: [options.domain], bind: options.host, dataDir: path.join(directory, 'data'), logLevel: 'warn' },
    c2s: { port: options.c2sPort, directTlsPort: 0, rateBytesPerSecond: 1 << 30, maxLoginFailures: 1_000_000, requireEncryption: !options.allowPlainTcp },
    websocket: { port: options.httpPort, tlsPort: 0, consideredSecure: true },
    tls: { cert: tls.certificate, key: tls.key },
    storage: { backend: 'leveldb' },
    modules: {
      enabled: SORI_REGISTRATION_MODULE ? [SORI_REGISTRATION_MODULE] : [],
      // Unthrottled, as Prosody (min_seconds_between_registrations = 0) and ejabberd (registration_timeout: infinity).
      options: SORI_REGISTRATION_MODULE ? { [SORI_REGISTRATION_MODULE]: { minSecondsBetweenRegistrations: 0, allowInsecure: options.allowPlainTcp } } : {},
    },
  };
}

function createAccountsOffline(configFile: string, usernames: string[], domain: string, password: string): void {
  for (const username of usernames) {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/ctl.ts', '--config', configFile, 'adduser', `${username}@${domain}`, password],
      { cwd: repositoryRoot, encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`sori ctl adduser ${username} failed: ${result.stderr}`);
  }
}

/**
 * The command line of one sori process, pinned, with the flags `npm start` gives it; SORI_NODE_FLAGS (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles it under load, and with BENCH_SORI_STDOUT=1 what V8 prints
 * there ("--trace-gc") reaches the run's output.
 */
export function soriCommand(cpus: string, configFile: string): string[] {
  const nodeFlags = (process.env.SORI_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  return pinned(cpus, [process.execPath, ...nodeRuntimeFlags, ...nodeFlags, '--import', 'tsx', 'src/main.ts', '--config', configFile]);
}

export const soriLauncher: ServerLauncher = {
  name: 'sori',
  async start(options: LaunchOptions): Promise<RunningServer> {
    if (!soriIsRunnable()) throw new Error('sori has no src/main.ts yet');
    await waitForPortFree(options.c2sPort, options.host, 10_000);
    const directory = makeRunDirectory('sori');
    const tls = writeSelfSignedCertificate(directory, options.domain);
    const configFile = path.join(directory, 'sori.json');
    writeFileSync(configFile, JSON.stringify(soriConfig(directory, options, tls), null, 2));
    if (!SORI_REGISTRATION_MODULE) {
      // The embedded store is single-process, so accounts must exist before the server opens it.
      createAccountsOffline(configFile, options.accounts.usernames, options.domain, options.accounts.password);
    }
    const [command, ...args] = soriCommand(options.cpus, configFile);
    const launch = async (): Promise<number> => {
      const child = spawn(command!, args, { cwd: repositoryRoot, stdio: ['ignore', process.env.BENCH_SORI_STDOUT ? 'inherit' : 'ignore', 'inherit'] });
      await waitForPort(options.c2sPort, options.host, 30_000);
      return child.pid!;
    };
    return restartableServer(launch, (pid) => stopProcess(pid), options, {
      name: 'sori',
      domain: options.domain,
      host: options.host,
      c2sPort: options.c2sPort,
      webSocketUrl: `ws://${options.host}:${options.httpPort}/xmpp-websocket`,
      provisioning: SORI_REGISTRATION_MODULE ? 'in-band' : 'before-start',
      version: 'sori (working tree)',
      eventLoopStallMs: () => scrapeEventLoopStallMs(`http://${options.host}:${options.httpPort}/metrics`),
    });
  },
};
