/**
 * Debian's ejabberd 23.01 as a federation peer: domain ejabberd.test on
 * 127.0.0.3 only, run in the foreground as the ejabberd user (ejabberdctl
 * started as root ignores --config) under its own Erlang node name, so that it
 * never meets another ejabberd on this machine; raised open-file limit and
 * listener backlogs, shapers off, STARTTLS required on s2s, the test CA as
 * `ca_file`. Its s2s resolves SRV with inet_res (DNS only: the inetrc we
 * write, which ejabberdctl reads from CONFIG_DIR, names the test's DNS
 * responder as the only nameserver) and addresses with getaddrinfo (so it
 * runs in a private mount namespace with its own /etc/hosts bound over the
 * machine's; the machine's file is never modified).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, waitUntilReady, type StartedChild } from '../../../src/testing/services/child-process.js';
import type { Pem } from '../../../src/testing/test-ca.js';
import { killGroupOnExit, tcpReadyOn, type Peer } from './prosody.js';

const run = promisify(execFile);

function ejabberdIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('ejabberd:'));
  if (line === undefined) throw new Error('no ejabberd user: run scripts/setup-federation.sh (apt-get install -y ejabberd)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export async function startEjabberd(opts: { dir: string; address: string; domain: string; cert: Pem; caFile: string; hosts: Record<string, string>; nameserver: { address: string; port: number }; node: string }): Promise<Peer> {
  const { dir, address, domain, node } = opts;
  if (!existsSync('/usr/sbin/ejabberdctl')) throw new Error('ejabberd is not installed: run scripts/setup-federation.sh (apt-get install -y ejabberd)');
  if (userInfo().uid !== 0) throw new Error('the ejabberd peer is started as the ejabberd user with runuser: run the federation tests as root');
  const ids = ejabberdIds();
  for (const d of ['', 'db', 'logs']) {
    mkdirSync(join(dir, d), { recursive: true });
    chownSync(join(dir, d), ids.uid, ids.gid);
  }
  chmodSync(dir, 0o755);
  const own = (file: string, text: string, mode = 0o640): string => {
    const p = join(dir, file);
    writeFileSync(p, text, { mode });
    chownSync(p, ids.uid, ids.gid);
    return p;
  };
  const pem = own('ejabberd.pem', opts.cert.cert + opts.cert.key);
  const ca = own('ca.pem', readFileSync(opts.caFile, 'utf8'));
  const toTuple = (ip: string): string => `{${ip.split('.').join(',')}}`;
  own('inetrc', `{lookup,["file","native"]}.\n${Object.entries(opts.hosts).map(([name, ip]) => `{host,${toTuple(ip)},["${name}"]}.`).join('\n')}\n{resolv_conf, ""}.\n{nameserver,${toTuple(opts.nameserver.address)},${opts.nameserver.port}}.\n`);
  own('ejabberdctl.cfg', `ERLANG_NODE=${node}\nERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n`);
  const config = own(
    'ejabberd.yml',
    `hosts:
  - "${domain}"
loglevel: info
certfiles:
  - "${pem}"
ca_file: "${ca}"
s2s_use_starttls: required
s2s_timeout: 30000
s2s_dns_timeout: 5
s2s_dns_retries: 1
outgoing_s2s_families: [ipv4]
outgoing_s2s_timeout: 10000
registration_timeout: infinity
auth_method: internal
default_db: mnesia
shaper: {}
shaper_rules: {}
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  s2s:
    allow: all
s2s_access: s2s
listen:
  - port: 5222
    ip: "${address}"
    module: ejabberd_c2s
    starttls_required: true
    shaper: none
    backlog: 1024
    max_stanza_size: 262144
  - port: 5269
    ip: "${address}"
    module: ejabberd_s2s_in
    shaper: none
    backlog: 1024
    max_stanza_size: 524288
modules:
  mod_disco: {}
  mod_roster: {}
  mod_ping: {}
  mod_s2s_dialback: {}
  mod_version: {}
`,
  );
  const ctlArgs = ['--config-dir', dir, '--config', config, '--spool', join(dir, 'db'), '--logs', join(dir, 'logs'), '--node', node];
  // Its own /etc/hosts, in a private mount namespace: only this ejabberd sees the test names.
  const hostsFile = own('hosts', readFileSync('/etc/hosts', 'utf8') + `\n${Object.entries(opts.hosts).map(([name, ip]) => `${ip} ${name}`).join('\n')}\n`, 0o644);
  const inner = `mount --bind '${hostsFile}' /etc/hosts && exec runuser -u ejabberd -- sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ejabberdctl ${ctlArgs.join(' ')} foreground'`;
  const started: StartedChild = spawnTracked('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', inner], { cwd: dir, detached: true });
  killGroupOnExit(started);
  await waitUntilReady('ejabberd', started, tcpReadyOn(address, 5222), 60_000);
  await waitUntilReady('ejabberd', started, tcpReadyOn(address, 5269), 10_000);
  const ctl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run('runuser', ['-u', 'ejabberd', '--', 'ejabberdctl', ...ctlArgs, ...args], { cwd: dir, timeout: 60_000 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new Error(`ejabberdctl ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
    }
  };
  const logFile = join(dir, 'logs', 'ejabberd.log');
  return {
    name: 'ejabberd',
    domain,
    address,
    c2sPort: 5222,
    async register(user, password) {
      await ctl('register', user, domain, password);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : started.output()),
    async stop() {
      const child = started.child;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await ctl('stop').catch(() => undefined);
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}
