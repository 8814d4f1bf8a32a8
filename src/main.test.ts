import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnTracked, tcpReady, waitUntilReady } from './testing/services/child-process.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** `sori` started as `npm start` starts it, with this configuration. */
function spawnSori(dir: string, config: Record<string, unknown>): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const file = join(dir, 'sori.json');
  const quiet = { c2s: { port: 0, directTlsPort: 0 }, websocket: { port: 0, tlsPort: 0 }, storage: { backend: 'memory' } };
  writeFileSync(file, JSON.stringify({ ...quiet, ...config, server: { dataDir: join(dir, 'data'), logLevel: 'error', ...(config.server as object | undefined) } }));
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', file], { cwd: ROOT }).child;
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  // A server that does not stop would run until killed: that is a failure of the test too.
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  void exited.then(() => clearTimeout(timer));
  return { child, stderr: () => err, exited };
}

/** Starts `sori`; resolves when it exits, or, with `until`, once its stderr matches (it is then killed). */
async function start(dir: string, config: Record<string, unknown>, until?: RegExp): Promise<{ code: number | null; err: string }> {
  const sori = spawnSori(dir, config);
  if (until !== undefined) await stderrMatches(sori, until).then(() => sori.child.kill('SIGKILL'), () => {});
  const code = await sori.exited;
  return { code, err: sori.stderr() };
}

/** Resolves when the process has written a line matching `pattern`; rejects if it exits first. */
function stderrMatches(sori: ReturnType<typeof spawnSori>, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (pattern.test(sori.stderr())) resolve();
    };
    sori.child.stderr!.on('data', check);
    void sori.exited.then(() => reject(new Error(`exited before writing ${pattern}: ${sori.stderr()}`)));
    check();
  });
}

/** What the operator reads: one line, no stack trace. */
function oneLine(err: string): string {
  const lines = err.trimEnd().split('\n');
  expect(lines, err).to.have.length(1);
  return lines[0]!;
}

describe('npm start with a configuration it cannot run', function () {
  this.timeout(60_000);
  const dir = (): string => mkdtempSync(join(tmpdir(), 'sori-main-'));

  it('names the busy port and the option that set it, in one line, and exits', async () => {
    const other = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => other.once('listening', r));
    const busy = (other.address() as AddressInfo).port;
    try {
      const r = await start(dir(), { c2s: { port: busy, directTlsPort: 0 } });
      expect(r.code).to.equal(1);
      expect(oneLine(r.err)).to.equal(`sori: cannot start: 127.0.0.1:${busy} is already in use (another process listens there): change c2s.port`);
    } finally {
      other.close();
    }
  });

  it('names a certificate file that does not exist', async () => {
    const d = dir();
    const r = await start(d, { tls: { cert: join(d, 'missing.pem'), key: join(d, 'missing.key') } });
    expect(r.code).to.equal(1);
    expect(oneLine(r.err)).to.match(/^sori: cannot start: ENOENT: no such file or directory, open '.*missing\.pem' \(tls\.cert\)$/);
  });

  it('names the certificate files when they are not PEM', async () => {
    const d = dir();
    writeFileSync(join(d, 'cert.pem'), 'not a certificate\n');
    writeFileSync(join(d, 'key.pem'), 'not a key\n');
    const r = await start(d, { tls: { cert: 'cert.pem', key: 'key.pem' } });
    expect(r.code).to.equal(1);
    expect(oneLine(r.err)).to.match(/^sori: cannot start: tls\.cert cert\.pem \/ tls\.key key\.pem: /);
  });

  it('names server.dataDir when the store cannot be created there', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), '');
    const r = await start(d, { server: { dataDir: join(d, 'file', 'data') }, storage: { backend: 'leveldb' } });
    expect(r.code).to.equal(1);
    expect(oneLine(r.err)).to.match(/^sori: cannot start: ENOTDIR: not a directory, .* \(server\.dataDir\)$/);
  });

  it('reports an unknown module as a configuration error', async () => {
    const r = await start(dir(), { modules: { enabled: ['no-such-module'] } });
    expect(r.code).to.equal(2);
    expect(oneLine(r.err)).to.match(/^sori: configuration error: modules: unknown module 'no-such-module'/);
  });
});

describe('npm start waiting for a service', function () {
  this.timeout(60_000);

  it('says it waits for Redis, naming it, instead of hanging in silence', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dir = mkdtempSync(join(tmpdir(), 'sori-main-'));
    const waiting = /Redis at redis:\/\/127\.0\.0\.1:\d+ \(cluster\.redis\) has not answered for 3 s/;
    const r = await start(dir, { server: { logLevel: 'warn' }, cluster: { redis: [`redis://127.0.0.1:${port}`] }, modules: { disabled: ['upload'] } }, waiting);
    expect(r.err).to.match(waiting);
  });
});

describe('npm start stopping', function () {
  this.timeout(60_000);

  it('stops on SIGTERM when Redis went away, once its Redis commands give up (cluster.redisWaitSeconds), instead of waiting for it for ever', async () => {
    const port = await freePort();
    // A Redis of this test's own: the one tests share must stay up.
    const redis = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
    await waitUntilReady('redis-server', redis, tcpReady(port), 20_000);
    const dir = mkdtempSync(join(tmpdir(), 'sori-main-'));
    const sori = spawnSori(dir, { server: { logLevel: 'debug' }, cluster: { redis: [`redis://127.0.0.1:${port}`] }, modules: { disabled: ['upload'] } });
    await stderrMatches(sori, /sori serving localhost/);
    redis.child.kill('SIGKILL');
    // Stopped while ioredis reconnects (it logs each refusal at debug), as after a Redis crash, once the
    // node's own work (heartbeat, inbox read) has gone to waiting for it.
    await stderrMatches(sori, /redis: connect ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 1000));
    const signalled = Date.now();
    sori.child.kill('SIGTERM');
    const code = await sori.exited;
    // A clean stop: before Redis commands gave up, only the stop deadline (shutdownGraceSeconds + 10 s) ended it, with exit code 1.
    expect(code, sori.stderr()).to.equal(0);
    expect(Date.now() - signalled).to.be.below(15_000);
    expect(sori.stderr()).to.not.match(/not stopped 10 s after SIGTERM/);
  });
});
