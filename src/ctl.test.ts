import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

function ctl(config: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/ctl.ts', '--config', config, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
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

  it('stops with a message naming the key on a bad configuration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sori-ctl-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ c2s: { port: 'five' } }));
    const r = ctl(bad, 'list');
    expect(r.code).to.equal(1);
    expect(r.err).to.include('c2s.port: got "five", expected an integer');
  });
});
