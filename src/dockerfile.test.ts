import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config.js';
import { startSori } from './sori.js';
import { MemoryStore } from './storage/memory/index.js';

const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');

/** The instructions in order, continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('Dockerfile', () => {
  it('gives the user sori runs as its data volume, which Docker would otherwise create owned by root', () => {
    const user = instructions.find((i) => i.startsWith('USER '))?.slice(5);
    const volume = instructions.findIndex((i) => i.startsWith('VOLUME '));
    expect(user, 'USER').to.be.a('string');
    const dataDir = JSON.parse(/SORI__server__dataDir='([^']*)'/.exec(dockerfile)![1]!) as string;
    expect(instructions[volume], 'the data directory is the volume').to.include(`"${dataDir}"`);
    // A volume starts with the ownership of the image's directory at that path; a path the image lacks is root's.
    const prepared = instructions.slice(0, volume).some((i) => i.startsWith('RUN ') && i.includes(`mkdir -p ${dataDir}`) && i.includes(`chown ${user}:${user} ${dataDir}`));
    expect(prepared, `a RUN before VOLUME creates ${dataDir} and hands it to ${user}`).to.equal(true);
  });

  it('keeps the container healthy through a store outage, which replacing it (Swarm, ECS) would not mend, and unhealthy once nothing serves HTTP', async function () {
    this.timeout(30_000);
    const healthcheck = instructions.find((i) => i.startsWith('HEALTHCHECK '));
    const probe = JSON.parse(/CMD (\[.*\])$/.exec(healthcheck ?? '')![1]!) as string[];
    const store = new MemoryStore();
    const config = loadConfig({ env: {}, overrides: { server: { dataDir: mkdtempSync(join(tmpdir(), 'sori-docker-')), logLevel: 'error' }, storage: { backend: 'memory' } } });
    const sori = await startSori(config, { ephemeralPorts: true, store });
    const port = sori.listening.ports.ws!;
    // The image's probe, run against this server's HTTP port in place of the image's 5280.
    const runProbe = (): Promise<number> =>
      new Promise((done) => {
        const [command, ...args] = probe.map((a) => a.replace('127.0.0.1:5280', `127.0.0.1:${port}`));
        const child = execFile(command === 'node' ? process.execPath : command!, args, { timeout: 20_000 }, () => done(child.exitCode ?? -1));
      });
    try {
      store.get = () => Promise.reject(new Error('disk on fire'));
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status, 'the store is down').to.equal(503);
      expect(await runProbe(), 'healthy while the store is down').to.equal(0);
    } finally {
      await sori.stop();
    }
    expect(await runProbe(), 'unhealthy once the process serves no HTTP').to.equal(1);
  });
});

