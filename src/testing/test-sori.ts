import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { startSori, type Sori } from '../sori.js';
import type { WideColumnStore } from '../storage/wide-column.js';
import { parseJid } from '../util/jid.js';
import type { XmlElement } from '../util/xml.js';
import { RawClient } from './raw-client.js';

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

/** sori for a describe's socket tests: see testSoriForDescribe. */
export interface DescribeSori {
  sori: Sori;
  /** The c2s port. */
  port: number;
  /** A raw client connected to c2s, destroyed after the test that opened it. */
  connect(): Promise<RawClient>;
  /**
   * A raw client on a TLS stream opened up to the pre-authentication
   * features (the login step), destroyed after the test that opened it.
   */
  preAuth(): Promise<{ c: RawClient; features: XmlElement }>;
}

/**
 * startTestSori once before the enclosing describe's tests, with `accounts`
 * (local parts on localhost) created with the password 'secret', and stopped
 * after them. Like eachTest, tests read `sori` and `port` through the
 * returned object once the hooks have run, never copied out at describe time.
 */
export function testSoriForDescribe(overrides: Sections, opts: { store?: WideColumnStore; accounts: readonly string[] }): DescribeSori {
  const open: RawClient[] = [];
  const fixture: DescribeSori = {
    sori: undefined as unknown as Sori,
    port: 0,
    async connect() {
      const c = await RawClient.connect(fixture.port);
      open.push(c);
      return c;
    },
    async preAuth() {
      const c = await fixture.connect();
      await c.startTls();
      c.open();
      return { c, features: await c.features() };
    },
  };
  before(async function () {
    fixture.sori = await startTestSori(overrides, { store: opts.store });
    fixture.port = fixture.sori.listening.ports.c2s!;
    for (const user of opts.accounts) await fixture.sori.server.createAccount(parseJid(`${user}@localhost`), 'secret');
  });
  afterEach(function () {
    for (const c of open.splice(0)) c.destroy();
  });
  after(() => fixture.sori?.stop());
  return fixture;
}
