/**
 * A sori cluster for end-to-end tests: node processes (`npx tsx src/main.ts
 * --config <tmp>`) on their own ports and data directories, sharing one
 * DynamoDB Local store (LevelDB cannot be opened by two processes) and one
 * Redis deployment. Accounts and roster items are written straight into the
 * shared store by the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { selectModules } from '../../src/sori.js';
import { createStore } from '../../src/storage/index.js';
import { Table, type WideColumnStore } from '../../src/storage/wide-column.js';
import { parseJid } from '../../src/util/jid.js';
import { Accounts } from '../../src/xmpp/auth/accounts.js';
import { RosterStore } from '../../src/xmpp/modules/rfc6121-roster/store.js';
import { Server } from '../../src/xmpp/server.js';
import { freePort, tcpReady } from '../../src/testing/services/child-process.js';
import type { DynamoLocalService } from '../../src/testing/services/dynamodb-local.js';
import { startXmpp, trustTestPort, type XmppSession } from './clients.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export interface RedisTargetConfig {
  urls: string[];
  cluster: boolean;
}

export interface ClusterNodeProcess {
  name: string;
  host: string;
  port: number;
  domain: string;
  /** Everything the node printed so far. */
  output(): string;
  readonly running: boolean;
  /** SIGKILL to the node's process group: a crash, nothing cleaned up. */
  kill9(): Promise<void>;
  /** SIGTERM: graceful stop. */
  stop(): Promise<void>;
}

export interface SharedStore {
  store: WideColumnStore;
  dynamodb: Record<string, unknown>;
  addUser(bare: string, password: string): Promise<void>;
  /** Mutual `both` subscription, as if negotiated earlier. */
  befriend(a: string, b: string): Promise<void>;
  close(): Promise<void>;
}

/** Creates every table of the default module set under a fresh prefix in DynamoDB Local. */
export async function sharedStore(dynamo: DynamoLocalService): Promise<SharedStore> {
  const tablePrefix = `c${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}_`;
  const dynamodb = { endpoint: dynamo.endpoint, region: dynamo.region, credentials: dynamo.credentials, tablePrefix };
  const store = await createStore({ backend: 'dynamodb', ...dynamodb });
  const config = loadConfig({ env: {}, overrides: { storage: { backend: 'memory' } } });
  await store.ensureTables(Server.tables(selectModules(config)));
  const accounts = new Accounts(store, []);
  const roster = new RosterStore(new Table(store, 'roster'), new Table(store, 'roster_meta'), new Table(store, 'roster_pending'));
  return {
    store,
    dynamodb,
    async addUser(bare, password) {
      await accounts.create(parseJid(bare), password);
    },
    async befriend(a, b) {
      await roster.put(a, { jid: b, subscription: 'both', groups: [] });
      await roster.put(b, { jid: a, subscription: 'both', groups: [] });
    },
    close: () => store.close(),
  };
}

export interface NodeOptions {
  name: string;
  redis: RedisTargetConfig;
  dynamodb: Record<string, unknown>;
  livenessSeconds: number;
  /** Extra config sections merged over the defaults. */
  config?: Record<string, Record<string, unknown>>;
}

export async function startClusterNode(opts: NodeOptions): Promise<ClusterNodeProcess> {
  const host = '127.0.0.1';
  const domain = 'localhost';
  const dataDir = await mkdtemp(join(tmpdir(), `sori-cluster-${opts.name}-`));
  const port = await freePort();
  const config: Record<string, Record<string, unknown>> = {
    server: { hosts: [domain], bind: host, dataDir, nodeId: opts.name, logLevel: 'info' },
    c2s: { port, directTlsPort: 0, maxLoginFailures: 1000 },
    websocket: { port: 0, tlsPort: 0 },
    storage: { backend: 'dynamodb', createTables: false, dynamodb: opts.dynamodb },
    cluster: { redis: opts.redis.urls, redisCluster: opts.redis.cluster, livenessSeconds: opts.livenessSeconds },
  };
  for (const [section, values] of Object.entries(opts.config ?? {})) config[section] = { ...config[section], ...values };
  const configFile = join(dataDir, 'sori.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  let out = '';
  const child: ChildProcess = spawn(TSX, [join(ROOT, 'src', 'main.ts'), '--config', configFile], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a kill reaches tsx's node child too
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let running = true;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  void exited.then(() => (running = false));
  /** SIGKILL goes to the whole group; SIGTERM only to tsx, which relays it (a second SIGTERM makes sori exit at once). */
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(sig === 'SIGKILL' ? -child.pid! : child.pid!, sig);
    } catch {
      // already gone
    }
  };
  // A test run that dies must not leave nodes behind.
  const onExit = (): void => signal('SIGKILL');
  process.once('exit', onExit);

  const deadline = Date.now() + 60_000;
  while (!(await tcpReady(port)())) {
    if (!running || Date.now() > deadline) {
      signal('SIGKILL');
      throw new Error(`cluster node ${opts.name} did not listen on ${host}:${port} (${running ? 'timed out' : 'exited'}):\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  trustTestPort(port);

  const finish = async (): Promise<void> => {
    await exited;
    process.removeListener('exit', onExit);
    await rm(dataDir, { recursive: true, force: true });
  };
  return {
    name: opts.name,
    host,
    port,
    domain,
    output: () => out,
    get running() {
      return running;
    },
    async kill9() {
      signal('SIGKILL');
      await finish();
    },
    async stop() {
      if (running) {
        signal('SIGTERM');
        const killer = setTimeout(() => signal('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await finish();
    },
  };
}

/**
 * @xmpp/client over STARTTLS like `connectTcp` in clients.ts, but with the
 * client's own step timeout (2 s by default) raised: cluster tests run three
 * nodes, Redis and DynamoDB Local at once, and a busy machine must not turn
 * into a failed login.
 */
export function connectPatient(node: { host: string; port: number; domain: string }, account: { username: string; password: string; resource?: string }, ms = 60_000): Promise<XmppSession> {
  return startXmpp(`xmpp://${node.host}:${node.port}`, node.domain, account, ms, { stepTimeoutMs: ms, waitMs: 20_000 });
}
