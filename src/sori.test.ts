import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Libraries a single node without push apps does not need: each costs heap that every full GC marks. */
const OPTIONAL = ['ioredis', 'firebase-admin', 'google-auth-library', '@parse/node-apn', 'node-forge', 'cassandra-driver', '@aws-sdk/client-dynamodb'];

/** Starts sori in a fresh process on `dataDir` and returns the npm packages it loaded. */
function packagesLoadedByStart(dataDir: string): string[] {
  const src = fileURLToPath(new URL('.', import.meta.url));
  const script = join(dataDir, 'start.mjs');
  writeFileSync(
    script,
    `import Module from 'node:module';
const { loadConfig } = await import(${JSON.stringify(join(src, 'config.ts'))});
const { startSori } = await import(${JSON.stringify(join(src, 'sori.ts'))});
const config = loadConfig({ env: {}, overrides: { server: { dataDir: ${JSON.stringify(dataDir)}, logLevel: 'error' }, storage: { backend: 'leveldb' } } });
const sori = await startSori(config, { ephemeralPorts: true });
await sori.stop();
const packages = new Set(Object.keys(Module._cache).map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p)?.[1]).filter(Boolean));
process.stdout.write(JSON.stringify([...packages]));
`,
  );
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: join(src, '..'), encoding: 'utf8', timeout: 60_000 });
  expect(run.status, `sori did not start and stop:\n${run.stderr}`).to.equal(0);
  return JSON.parse(run.stdout) as string[];
}

describe('a single node (npm start without cluster or push apps)', function () {
  this.timeout(120_000);

  it('loads neither Redis, push, cloud-store nor certificate-generation libraries', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sori-start-'));
    // The first start makes a self-signed certificate, which needs node-forge; this shows the check sees a loaded library.
    expect(packagesLoadedByStart(dataDir)).to.include('node-forge');
    const loaded = packagesLoadedByStart(dataDir);
    expect(loaded).to.include('classic-level');
    expect(loaded.filter((p) => OPTIONAL.includes(p))).to.deep.equal([]);
  });
});
