import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { startSori, type Sori } from '../sori.js';
import type { WideColumnStore } from '../storage/wide-column.js';

type Sections = Record<string, Record<string, unknown>>;

/**
 * sori in the test's own process on ephemeral ports (read them back from
 * `listening.ports`), for tests that go through real sockets. `overrides` are
 * merged section by section over a small base (localhost on loopback, the
 * memory store, no direct-TLS listeners, errors only in the log) and a fresh
 * data directory, which stop() removes. A start that fails removes it too.
 * A test that needs a direct-TLS listener sets its port to anything but 0.
 */
export async function startTestSori(overrides: Sections = {}, opts: { store?: WideColumnStore } = {}): Promise<Sori> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sori-test-'));
  const base: Sections = {
    server: { hosts: ['localhost'], bind: '127.0.0.1', dataDir, logLevel: 'error' },
    c2s: { directTlsPort: 0 },
    websocket: { tlsPort: 0 },
    storage: { backend: 'memory' },
  };
  const merged: Sections = { ...base };
  for (const [section, values] of Object.entries(overrides)) merged[section] = { ...base[section], ...values };
  const removeData = (): Promise<void> => rm(dataDir, { recursive: true, force: true });
  let sori: Sori;
  try {
    sori = await startSori(loadConfig({ env: {}, overrides: merged }), { ephemeralPorts: true, store: opts.store });
  } catch (e) {
    await removeData();
    throw e;
  }
  let stopped: Promise<void> | null = null;
  const stopSori = sori.stop;
  return {
    ...sori,
    stop: (reason?: string) =>
      (stopped ??= (async () => {
        await stopSori(reason);
        await removeData();
      })()),
  };
}
