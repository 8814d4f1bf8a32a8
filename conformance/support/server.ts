/**
 * Starts a real sori process for end-to-end tests with other people's clients:
 * `npx tsx src/main.ts --config <tmpfile>` on free loopback ports, data in a
 * temporary directory, removed again by stop(). Kept small and isolated: the
 * config keys below are the only coupling to src/config.ts.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { addUserAsAdmin, trustTestPort } from './clients.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const run = promisify(execFile);

export interface SoriProcess {
  /** XMPP domain served. */
  domain: string;
  host: string;
  /** c2s port with STARTTLS. */
  port: number;
  /** c2s port with direct TLS (XEP-0368). */
  directTlsPort: number;
  wsUrl: string;
  /** BOSH endpoint (XEP-0206) on the same HTTP port. */
  boshUrl: string;
  /** Admin account (listed in server.admins) created before start. */
  admin: { jid: string; password: string };
  dataDir: string;
  /** Everything the server printed so far (for failure messages). */
  output(): string;
  /** Creates an account while running, through XEP-0133 as the admin (use StartOptions.users before start). */
  addUser(jid: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Merged over the test defaults (deep for sections). */
  config?: Record<string, Record<string, unknown>>;
  /** Accounts created with src/ctl.ts before the server starts: { "alice@localhost": "pw" }. */
  users?: Record<string, string>;
  /** Milliseconds to wait for the c2s port. */
  startTimeout?: number;
}

export async function freePort(host: string): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? ok(addr.port) : fail(new Error('no port'))));
    });
  });
}

/** Whether something accepts TCP connections on host:port right now. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      ok(true);
    });
    s.once('error', () => ok(false));
  });
}

async function ctl(configFile: string, ...args: string[]): Promise<void> {
  try {
    await run(TSX, [join(ROOT, 'src', 'ctl.ts'), '--config', configFile, ...args], { cwd: ROOT, timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`src/ctl.ts ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

export async function startSori(opts: StartOptions = {}): Promise<SoriProcess> {
  const host = '127.0.0.1';
  const domain = 'localhost';
  const dataDir = await mkdtemp(join(tmpdir(), 'sori-e2e-'));
  const admin = { jid: `admin@${domain}`, password: `admin-${Math.random().toString(36).slice(2)}` };
  const configFile = join(dataDir, 'sori.json');
  /** The settings with fresh free ports for the listeners the caller did not choose. */
  const settings = async (): Promise<Record<string, Record<string, unknown>>> => {
    const base: Record<string, Record<string, unknown>> = {
      server: { hosts: [domain], bind: host, dataDir, admins: [admin.jid], logLevel: 'warn' },
      c2s: { port: await freePort(host), directTlsPort: await freePort(host), maxLoginFailures: 1000 },
      // Loopback only: plain ws:// counts as secure so PLAIN is offered, as in production behind TLS.
      websocket: { port: await freePort(host), tlsPort: 0, consideredSecure: true },
      storage: { backend: 'leveldb' },
    };
    for (const [section, values] of Object.entries(opts.config ?? {})) base[section] = { ...base[section], ...values };
    return base;
  };
  let base = await settings();
  await writeFile(configFile, JSON.stringify(base, null, 2));

  // The embedded store is opened by one process at a time: accounts go in before start.
  await ctl(configFile, 'adduser', admin.jid, admin.password);
  for (const [jid, pw] of Object.entries(opts.users ?? {})) await ctl(configFile, 'adduser', jid, pw);

  let out = '';
  let child!: ChildProcess;
  let exited!: Promise<number | null>;
  let running = false;
  // A port found free can be taken before sori binds it (by any process's outgoing connection): then again, with others.
  for (let attempt = 1; ; attempt++) {
    out = '';
    child = spawn(TSX, [join(ROOT, 'src', 'main.ts'), '--config', configFile], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so stop() reaches tsx's child too
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const thisChild = child;
    exited = new Promise<number | null>((ok) => thisChild.once('exit', (code) => ok(code)));
    running = true;
    void exited.then(() => {
      if (child === thisChild) running = false;
    });
    const port = base.c2s!.port as number;
    const deadline = Date.now() + (opts.startTimeout ?? 30_000);
    let listening = false;
    while (!listening) {
      listening = await canConnect(host, port);
      if (listening) break;
      if (!running || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (listening) break;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    if (!running && out.includes('EADDRINUSE') && attempt < 3) {
      base = await settings();
      await writeFile(configFile, JSON.stringify(base, null, 2));
      continue;
    }
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`sori did not listen on ${host}:${port} (${running ? 'timed out' : 'exited'}):\n${out.slice(-3000)}`);
  }
  const port = base.c2s!.port as number;
  const directTlsPort = base.c2s!.directTlsPort as number;
  // A test may choose the HTTP port (to name it in other settings before start).
  const httpPort = base.websocket!.port as number;
  trustTestPort(port);
  trustTestPort(directTlsPort);

  return {
    domain,
    host,
    port,
    directTlsPort,
    wsUrl: `ws://${host}:${httpPort}/xmpp-websocket`,
    boshUrl: `http://${host}:${httpPort}/http-bind`,
    admin,
    dataDir,
    output: () => out,
    async addUser(jid, password) {
      await addUserAsAdmin({ host, port, domain, admin }, jid, password);
    },
    async stop() {
      if (running) {
        process.kill(-child.pid!, 'SIGTERM');
        const killer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // gone
          }
        }, 5000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
