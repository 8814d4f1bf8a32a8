/**
 * Debian's Prosody 0.12 as a federation peer: domain prosody.test on
 * 127.0.0.2 only (c2s 5222, s2s 5269), its own config, data and logs in a
 * temporary directory, certificates from the test CA, and the test CA as the
 * only trust anchor for peer certificates. Names are resolved from a hosts
 * file of our own through libunbound's `hoststxt`, so /etc/hosts is not touched.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, tcpReady, waitUntilReady, type StartedChild } from '../../../src/testing/services/child-process.js';
import type { Pem } from '../../../src/testing/test-ca.js';

const run = promisify(execFile);

export interface Peer {
  name: 'prosody' | 'ejabberd';
  domain: string;
  address: string;
  c2sPort: number;
  /** Creates an account with the server's own tool. */
  register(user: string, password: string): Promise<void>;
  /** The server's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export async function startProsody(opts: { dir: string; address: string; domain: string; cert: Pem; caFile: string; hostsFile: string }): Promise<Peer> {
  const { dir, address, domain } = opts;
  if (!existsSync('/usr/bin/prosody')) throw new Error('prosody is not installed: run scripts/setup-federation.sh (apt-get install -y prosody)');
  writeFileSync(join(dir, `${domain}.crt`), opts.cert.cert);
  writeFileSync(join(dir, `${domain}.key`), opts.cert.key, { mode: 0o600 });
  const config = join(dir, 'prosody.cfg.lua');
  writeFileSync(
    config,
    `daemonize = false
run_as_root = true
pidfile = "${dir}/prosody.pid"
data_path = "${dir}/data"
log = { debug = "${dir}/prosody.log" }
interfaces = { "${address}" }
local_interfaces = { "${address}" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { 5269 }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
s2s_timeout = 20
authentication = "internal_hashed"
storage = "internal"
limits = { c2s = { rate = "100mb/s" }, s2sin = { rate = "100mb/s" } }
unbound = { hoststxt = "${opts.hostsFile}" }
ssl = { certificate = "${dir}/${domain}.crt", key = "${dir}/${domain}.key", cafile = "${opts.caFile}" }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "version" }
modules_disabled = { "offline" }
VirtualHost "${domain}"
`,
  );
  await run('mkdir', ['-p', join(dir, 'data')]);
  const started: StartedChild = spawnTracked('prosody', ['--config', config], { cwd: dir, detached: true });
  killGroupOnExit(started);
  await waitUntilReady('prosody', started, tcpReadyOn(address, 5222), 30_000);
  await waitUntilReady('prosody', started, tcpReadyOn(address, 5269), 10_000);
  const logFile = join(dir, 'prosody.log');
  return {
    name: 'prosody',
    domain,
    address,
    c2sPort: 5222,
    async register(user, password) {
      try {
        await run('prosodyctl', ['--config', config, 'register', user, domain, password], { timeout: 30_000 });
      } catch (e) {
        const err = e as { stderr?: string; stdout?: string; message: string };
        throw new Error(`prosodyctl register ${user} ${domain} failed: ${err.stderr || err.stdout || err.message}`);
      }
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : started.output()),
    async stop() {
      const child = started.child;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * The peers run in their own process group (spawned detached); ejabberd's
 * beam.smp is a grandchild of the tracked runuser. If the test process exits
 * without after() hooks (a crash, ^C), the whole group goes, and only it.
 */
export function killGroupOnExit(started: StartedChild): void {
  const pid = started.child.pid;
  if (pid === undefined) return;
  const kill = (): void => {
    if (started.child.exitCode !== null || started.child.signalCode !== null) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', kill);
  started.child.once('exit', () => process.removeListener('exit', kill));
}

/** Like tcpReady, on a given loopback address. */
export function tcpReadyOn(host: string, port: number): () => Promise<boolean> {
  if (host === '127.0.0.1') return tcpReady(port);
  return async () => {
    const { connect } = await import('node:net');
    return new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  };
}
