import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { startSori, type Sori } from '../sori.js';
import { loginOn, type TestClient } from './harness.js';
import { freePort } from './services/child-process.js';
import { TestCa, type Pem } from './test-ca.js';

/** A bound session for `full` on `sori` (the account is created), driven in-process. */
export function login(sori: Sori, full: string): Promise<TestClient> {
  return loginOn(sori.server, full);
}

/**
 * Federating sori servers in this process: one CA, a certificate from it for
 * a.test and b.test (also for RawS2s peers to present), memory storage, only
 * the s2s listener bound.
 */
export class S2sTestEnv {
  readonly dir = mkdtempSync(join(tmpdir(), 'sori-s2s-env-'));
  readonly ca = TestCa.create();
  readonly pems: Record<string, Pem> = {};
  private readonly running: Sori[] = [];

  constructor() {
    writeFileSync(join(this.dir, 'ca.pem'), this.ca.certPem);
    for (const d of ['a.test', 'b.test']) {
      this.pems[d] = this.ca.issue([d]);
      writeFileSync(join(this.dir, `${d}.crt`), this.pems[d]!.cert);
      writeFileSync(join(this.dir, `${d}.key`), this.pems[d]!.key);
    }
  }

  /** Starts a server for `domain` (a.test or b.test); `s2s` overrides the s2s options. */
  async start(domain: string, s2s: Record<string, unknown> = {}): Promise<Sori> {
    const dataDir = join(this.dir, `${domain}-${this.running.length}`);
    mkdirSync(dataDir, { recursive: true });
    const config = loadConfig({
      env: {},
      overrides: {
        server: { hosts: [domain], dataDir, logLevel: 'error' },
        c2s: { port: 0, directTlsPort: 0 },
        websocket: { port: 0, tlsPort: 0 },
        storage: { backend: 'memory' },
        tls: { cert: join(this.dir, `${domain}.crt`), key: join(this.dir, `${domain}.key`) },
        s2s: { enabled: true, port: await freePort(), ca: [join(this.dir, 'ca.pem')], ...s2s },
      },
    });
    const sori = await startSori(config);
    this.running.push(sori);
    return sori;
  }

  /** Stops the servers started so far. */
  async stop(): Promise<void> {
    for (const s of this.running.splice(0)) await s.stop();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
