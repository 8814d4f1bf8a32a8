/**
 * The floor under the idle scenario's memory figure: what Node itself holds
 * per idle TLS connection, measured the way the idle scenario measures a
 * server (a fresh process, sessions opened in two halves with 100 in
 * flight, RSS read after a settle pause). The server here is no XMPP
 * server: it accepts a TCP connection, answers one line, upgrades it to TLS
 * as STARTTLS does (`--direct`: TLS from the first byte), answers one more
 * line and keeps the socket. Its figure is what sori's TLS sessions cost
 * before sori keeps anything of its own.
 *
 * With `--engine rustls` the server holds each session in sori's rustls
 * addon (native/tls) on a plain socket instead: the floor under sori's
 * default client TLS.
 *
 *   npm run bench:tls-floor -- [--sessions 10000] [--direct] [--engine node|rustls]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { startHeapTrim } from '../src/heap-trim.js';
import { loadRustls, RustlsContext, TLS_PLAIN, TLS_SEND, type RustlsSession } from '../src/xmpp/transport/rustls.js';
import { makeRunDirectory, pinned, readRssBytes, sleep, waitForPort, writeSelfSignedCertificate } from './servers/common.js';

const { values: flags } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    direct: { type: 'boolean', default: false },
    engine: { type: 'string', default: 'node' },
    // Give the young generation back once quiet, as sori does (src/heap-trim.ts); pair it with --settle-seconds 20.
    trim: { type: 'boolean', default: false },
    'settle-seconds': { type: 'string', default: '5' },
    'server-cpus': { type: 'string', default: '0' },
    serve: { type: 'string' }, // internal: run as the server, with this certificate directory
  },
});
const HOST = '127.0.0.20';
const PORT = 5999;
const IN_FLIGHT = 100;

function serve(directory: string): void {
  const key = readFileSync(`${directory}/localhost.key`);
  const cert = readFileSync(`${directory}/localhost.crt`);
  const context = tls.createSecureContext({ key, cert });
  const held: tls.TLSSocket[] = [];
  const keep = (socket: tls.TLSSocket): void => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('<ok/>');
      held.push(socket);
    });
  };
  if (flags.engine === 'rustls') return serveRustls(cert.toString(), key.toString());
  const server = flags.direct
    ? tls.createServer({ key, cert }, keep)
    : net.createServer((raw) => {
        raw.on('error', () => undefined);
        raw.once('data', () => {
          raw.write('<proceed/>');
          const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
          secure.on('secure', () => keep(secure));
          secure.on('error', () => undefined);
        });
      });
  server.listen(PORT, HOST);
  if (flags.trim) startHeapTrim({ quietSeconds: 5 });
}

/** The same server on rustls: the socket stays plain, and each session is one native object. */
function serveRustls(cert: string, key: string): void {
  const addon = loadRustls();
  if (typeof addon === 'string') throw new Error(addon);
  const context = new RustlsContext(addon, cert, key, []);
  const held: { socket: net.Socket; session: RustlsSession }[] = [];
  const secure = (raw: net.Socket): void => {
    const session = context.session();
    raw.on('data', (chunk: Buffer) => {
      const got = session.receive(chunk);
      if (got & TLS_SEND) raw.write(session.takeSend()!);
      if (got & TLS_PLAIN) {
        session.takePlain();
        const reply = session.send('<ok/>');
        if (reply) raw.write(reply);
        held.push({ socket: raw, session });
      }
    });
  };
  const server = net.createServer((raw) => {
    raw.on('error', () => undefined);
    if (flags.direct) return secure(raw);
    raw.once('data', () => {
      raw.write('<proceed/>');
      secure(raw);
    });
  });
  server.listen(PORT, HOST);
  if (flags.trim) startHeapTrim({ quietSeconds: 5 });
}

function openOne(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const finish = (secure: tls.TLSSocket): void => {
      secure.write('<hello/>');
      secure.once('data', () => resolve(secure));
    };
    if (flags.direct) {
      const secure = tls.connect({ host: HOST, port: PORT, rejectUnauthorized: false }, () => finish(secure));
      secure.once('error', reject);
      return;
    }
    const raw = net.connect(PORT, HOST, () => raw.write('<starttls/>'));
    raw.once('error', reject);
    raw.once('data', () => {
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false }, () => finish(secure));
      secure.once('error', reject);
    });
  });
}

async function openMany(count: number, held: tls.TLSSocket[]): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started < count) {
        started++;
        held.push(await openOne());
      }
    }),
  );
}

async function measure(): Promise<void> {
  const sessions = Number(flags.sessions);
  const settleMs = Number(flags['settle-seconds']) * 1000;
  const directory = makeRunDirectory('node-tls-floor');
  writeSelfSignedCertificate(directory, 'localhost');
  const [command, ...args] = pinned(flags['server-cpus']!, [process.execPath, ...process.execArgv, process.argv[1]!, '--serve', directory, '--engine', flags.engine!, ...(flags.direct ? ['--direct'] : []), ...(flags.trim ? ['--trim'] : [])]);
  const server = spawn(command!, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    await waitForPort(PORT, HOST, 10_000);
    await sleep(settleMs);
    const pid = server.pid!;
    const before = readRssBytes(pid);
    const held: tls.TLSSocket[] = [];
    const half = Math.ceil(sessions / 2);
    await openMany(half, held);
    await sleep(settleMs);
    const atHalf = readRssBytes(pid);
    await openMany(sessions - half, held);
    await sleep(settleMs);
    const after = readRssBytes(pid);
    const kib = (bytes: number, count: number): string => (bytes / count / 1024).toFixed(1);
    console.log(
      `${flags.engine === 'rustls' ? 'rustls (native/tls) on' : 'bare'} Node ${process.version} ${flags.direct ? 'direct TLS' : 'STARTTLS'}${flags.trim ? ', young generation trimmed' : ''}: ${held.length} sessions held, RSS ${(before / 2 ** 20).toFixed(1)} → ${(atHalf / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB; ` +
        `${kib(after - before, sessions)} KiB/session, ${kib(after - atHalf, sessions - half)} KiB/session in the second half`,
    );
    for (const socket of held) socket.destroy();
  } finally {
    server.kill('SIGTERM');
  }
}

if (flags.serve !== undefined) serve(flags.serve);
else await measure();
