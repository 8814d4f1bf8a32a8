import { createServer, createConnection, type Server as NetServer } from 'node:net';
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseJid, type Jid } from './util/jid.js';
import type { Server } from './xmpp/server.js';

/**
 * Account administration shared by `sorictl` and the running server's control
 * socket. With LevelDB only one process may open the store, so while the
 * server runs, ctl sends its command over a Unix socket in the data dir.
 */
export type ControlCommand = { cmd: 'adduser' | 'passwd'; jid: string; password: string } | { cmd: 'deluser'; jid: string } | { cmd: 'list'; domain: string };
export type ControlResult = { ok: true; output: string } | { ok: false; error: string };

/** Why `text` cannot name an account here, or null: a typo in the domain would otherwise read as "no account" or an empty list. */
function notAnAccount(server: Server, text: string, jid: Jid): string | null {
  if (jid.local === '' || jid.resource !== '' || !server.isLocalDomain(jid.domain)) return `${text} is not an account JID on a served domain (${server.hosts.join(', ')})`;
  return null;
}

export async function runCommand(server: Server, c: ControlCommand): Promise<ControlResult> {
  try {
    switch (c.cmd) {
      case 'adduser': {
        const jid = parseJid(c.jid);
        const refused = notAnAccount(server, c.jid, jid);
        if (refused !== null) return { ok: false, error: refused };
        if (!(await server.createAccount(jid, c.password))) return { ok: false, error: `${jid.bare} already exists` };
        return { ok: true, output: `created ${jid.bare}` };
      }
      case 'passwd': {
        const jid = parseJid(c.jid);
        const refused = notAnAccount(server, c.jid, jid);
        if (refused !== null) return { ok: false, error: refused };
        if (!(await server.accounts.exists(jid))) return { ok: false, error: `no account ${jid.bare}` };
        await server.accounts.setPassword(jid, c.password);
        return { ok: true, output: `password changed for ${jid.bare}` };
      }
      case 'deluser': {
        const jid = parseJid(c.jid);
        if (!(await server.accounts.exists(jid))) return { ok: false, error: `no account ${jid.bare}` };
        await server.deleteAccount(jid);
        return { ok: true, output: `deleted ${jid.bare} and its data` };
      }
      case 'list':
        if (!server.isLocalDomain(c.domain)) return { ok: false, error: `${c.domain} is not a domain this server serves (${server.hosts.join(', ')})` };
        return { ok: true, output: (await server.accounts.list(c.domain)).join('\n') };
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export function listenControl(server: Server, path: string): NetServer {
  // The data directory may not exist yet: only the embedded store creates it.
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) unlinkSync(path);
  const srv = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      let cmd: ControlCommand;
      try {
        cmd = JSON.parse(buf.slice(0, nl)) as ControlCommand;
      } catch {
        sock.end(JSON.stringify({ ok: false, error: 'bad request' }) + '\n');
        return;
      }
      void runCommand(server, cmd).then((r) => sock.end(JSON.stringify(r) + '\n'));
    });
    sock.on('error', () => {});
  });
  // The socket only serves `npm run ctl`: failing to open it (a path too long for a Unix socket, a read-only directory) must not stop the server.
  srv.on('error', (err) => server.log.warn(`control socket ${path} not available, \`npm run ctl\` will not reach this server: ${err.message}`));
  // Whoever can connect may create accounts and change any password: only the server's own user may, whatever
  // the umask would let its group or everyone do. The socket file is made as listen() binds, under this mask.
  const umask = process.umask(0o177);
  try {
    srv.listen(path);
  } finally {
    process.umask(umask);
  }
  srv.unref();
  return srv;
}

/** How long `sendControl` waits for an answer by default: the commands take milliseconds on a server that runs. */
export const CONTROL_TIMEOUT_MS = 10_000;

/**
 * Sends a command to a running server; null when none listens at `path`. A server that accepts the
 * connection but does not answer within `timeoutMs` (stopped, its event loop blocked) is an error
 * result, not a wait for ever.
 */
export function sendControl(path: string, c: ControlCommand, timeoutMs = CONTROL_TIMEOUT_MS): Promise<ControlResult | null> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(null);
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({
        ok: false,
        error: `the server on ${path} accepted the connection but did not answer within ${timeoutMs / 1000} s: is sori stopped or stuck? Check its log and its process state (stopped, or using a whole CPU); the command may still take effect if it resumes`,
      });
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (buf += d));
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as ControlResult);
      } catch {
        resolve(null);
      }
    });
    sock.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    sock.write(JSON.stringify(c) + '\n');
  });
}
