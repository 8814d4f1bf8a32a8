import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore } from './storage/index.js';
import { Accounts, ACCOUNTS_TABLE } from './xmpp/auth/accounts.js';
import { parseJid } from './util/jid.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

function ctl(config: string, ...args: string[]): { code: number; out: string; err: string } {
  return ctlWithInput(config, '', ...args);
}

function ctlWithInput(config: string, input: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/ctl.ts', '--config', config, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, input });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function configFile(dir: string, name: string): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ server: { dataDir: join(dir, name), logLevel: 'error' }, storage: { backend: 'leveldb' } }));
  return file;
}

describe('sorictl', function () {
  this.timeout(300_000);

  it('manages accounts on a stopped server and copies every table to another store', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const a = configFile(dir, 'a');
    const b = configFile(dir, 'b');
    expect(ctl(a, 'adduser', 'alice@localhost', 'secret').out).to.include('created alice@localhost');
    expect(ctl(a, 'adduser', 'bob@localhost', 'secret').code).to.equal(0);
    const dup = ctl(a, 'adduser', 'alice@localhost', 'x');
    expect(dup.code).to.equal(1);
    expect(dup.err).to.include('already exists');
    expect(ctl(a, 'adduser', 'mallory@elsewhere.example', 'x').err).to.include('not an account JID on a served domain');
    expect(ctl(a, 'passwd', 'bob@localhost', 'n3w').code).to.equal(0);
    expect(ctl(a, 'list').out.trim().split('\n')).to.deep.equal(['alice@localhost', 'bob@localhost']);
    expect(ctl(a, 'deluser', 'bob@localhost').out).to.include('deleted bob@localhost');
    expect(ctl(a, 'list').out.trim()).to.equal('alice@localhost');

    expect(ctl(b, 'storage', 'init').out).to.match(/created \d+ tables on leveldb/);
    const copy = ctl(a, 'storage', 'copy', '--from', a, '--to', b);
    expect(copy.code, copy.err).to.equal(0);
    const result = JSON.parse(copy.out) as { tables: Record<string, { source: number; target: number }>; mismatched: string[] };
    expect(result.mismatched).to.deep.equal([]);
    expect(result.tables.accounts).to.include({ source: 1, target: 1 });
    expect(ctl(b, 'list').out.trim()).to.equal('alice@localhost');
  });

  it('takes the password from stdin when it is not on the command line (where ps and the shell history show it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const a = configFile(dir, 'a');
    expect(ctlWithInput(a, 'first secret\n', 'adduser', 'carol@localhost').out).to.include('created carol@localhost');
    expect(ctlWithInput(a, 'second secret\nignored\n', 'passwd', 'carol@localhost').code).to.equal(0);
    const empty = ctlWithInput(a, '\n', 'passwd', 'carol@localhost');
    expect([empty.code, empty.err]).to.deep.equal([1, 'sorictl: no password given\n']);
    const store = await createStore({ backend: 'leveldb', path: join(dir, 'a', 'db') });
    try {
      await store.ensureTables([ACCOUNTS_TABLE]);
      const accounts = new Accounts(store, []);
      expect(await accounts.verifyPassword(parseJid('carol@localhost'), 'second secret')).to.equal(true);
      expect(await accounts.verifyPassword(parseJid('carol@localhost'), 'first secret')).to.equal(false);
    } finally {
      await store.close();
    }
  });

  it('stops with a message naming the key on a bad configuration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ c2s: { port: 'five' } }));
    const r = ctl(bad, 'list');
    expect(r.code).to.equal(1);
    expect(r.err).to.include('c2s.port: got "five", expected an integer');
  });
});

describe('sorictl when no server answers on the control socket', function () {
  this.timeout(120_000);

  it('says the store is held by another process (a running sori) instead of a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const config = configFile(dir, 'a');
    // This test process stands for a server whose control socket could not be opened: it holds the LevelDB lock.
    const held = await createStore({ backend: 'leveldb', path: join(dir, 'a', 'db'), cacheBytes: 0 });
    await held.ensureTables([ACCOUNTS_TABLE]);
    try {
      const r = ctl(config, 'adduser', 'alice@localhost', 'secret');
      expect(r.code).to.equal(1);
      expect(r.err.trimEnd().split('\n'), r.err).to.have.length(1);
      expect(r.err).to.include(`the store at ${join(dir, 'a', 'db')} is in use by another process (a running sori?)`);
      expect(r.err).to.include(join(dir, 'a', 'sori.sock'));
      expect(r.err).to.not.include('secret');
    } finally {
      await held.close();
    }
  });

  it('refuses to change accounts in a memory store of its own, which would be gone when it exits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const file = join(dir, 'memory.json');
    writeFileSync(file, JSON.stringify({ server: { dataDir: join(dir, 'data'), logLevel: 'error' }, storage: { backend: 'memory' } }));
    const r = ctl(file, 'adduser', 'alice@localhost', 'secret');
    expect(r.code).to.equal(1);
    expect(r.out).to.equal('');
    expect(r.err).to.include(`is sori running? no server answered on its control socket ${join(dir, 'data', 'sori.sock')}`);
  });
});

describe('sorictl against a server that accepts the connection and never answers', function () {
  this.timeout(120_000);

  it('gives up after --timeout with one line naming the socket and what to check, instead of waiting for ever', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const config = configFile(dir, 'a');
    mkdirSync(join(dir, 'a'));
    const socket = join(dir, 'a', 'sori.sock');
    // A server whose event loop is stuck: the connection is made, the command read, and nothing comes back.
    const held: Socket[] = [];
    const hung = createServer((s) => void held.push(s));
    await new Promise<void>((done) => hung.listen(socket, done));
    try {
      const r = await new Promise<{ code: number | null; err: string }>((done) => {
        const child = execFile(process.execPath, ['--import', 'tsx', 'src/ctl.ts', '--config', config, '--timeout', '1', 'list'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (_e, _out, err) => done({ code: child.exitCode, err }));
      });
      expect(r.code, r.err).to.equal(1);
      expect(r.err.trimEnd().split('\n'), r.err).to.have.length(1);
      expect(r.err).to.include(`sorictl: the server on ${socket} accepted the connection but did not answer within 1 s: is sori stopped or stuck?`);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((done) => hung.close(done));
    }
  });

  it('refuses a --timeout that is not a number of seconds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const r = ctl(configFile(dir, 'a'), '--timeout', 'soon', 'list');
    expect([r.code, r.err]).to.deep.equal([1, 'sorictl: --timeout: got "soon", expected a number of seconds above 0 and at most 86400\n']);
  });
});
