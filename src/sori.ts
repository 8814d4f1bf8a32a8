import { mkdirSync } from 'node:fs';
import type { Config } from './config.js';
import { dataPath } from './config.js';
import { createStore, type StorageConfig } from './storage/index.js';
import type { WideColumnStore } from './storage/wide-column.js';
import { createLogger, setLogLevel, type LogLevel, type Logger } from './util/log.js';
import type { OptionSpecs } from './util/options.js';
import type { ModuleDefinition } from './xmpp/module.js';
import { ALL_MODULES } from './xmpp/modules/index.js';
import { Server } from './xmpp/server.js';
import { loadCredentials } from './xmpp/transport/certificate.js';
import { listen, type Listening } from './xmpp/transport/listeners.js';
import { listenControl } from './control.js';

/** Maps the storage section of the config onto a backend configuration. */
export function storageConfig(config: Config): StorageConfig {
  const s = config.storage;
  switch (s.backend) {
    case 'memory':
      return { backend: 'memory' };
    case 'dynamodb':
      return { backend: 'dynamodb', ...(s.dynamodb as Omit<Extract<StorageConfig, { backend: 'dynamodb' }>, 'backend'>) };
    case 'cassandra':
      return { backend: 'cassandra', ...(s.cassandra as Omit<Extract<StorageConfig, { backend: 'cassandra' }>, 'backend'>) };
    default: {
      const path = s.path ?? dataPath(config, 'db');
      mkdirSync(path, { recursive: true });
      return { backend: 'leveldb', path };
    }
  }
}

/** The modules this configuration loads: defaults, minus disabled, plus enabled. */
export function selectModules(config: Config, available: readonly ModuleDefinition<OptionSpecs>[] = ALL_MODULES): ModuleDefinition<OptionSpecs>[] {
  const known = new Set(available.map((m) => m.name));
  for (const name of [...config.modules.enabled, ...config.modules.disabled]) {
    if (!known.has(name)) throw new Error(`modules: unknown module '${name}' (known: ${[...known].join(', ')})`);
  }
  for (const name of Object.keys(config.modules.options)) {
    if (!known.has(name)) throw new Error(`modules.options.${name}: unknown module`);
  }
  const disabled = new Set(config.modules.disabled);
  const enabled = new Set(config.modules.enabled);
  return available.filter((m) => !disabled.has(m.name) && (m.defaultEnabled !== false || enabled.has(m.name)));
}

export interface Sori {
  server: Server;
  store: WideColumnStore;
  listening: Listening;
  log: Logger;
  stop(reason?: string): Promise<void>;
}

/** config → storage → server → modules → listeners. */
export async function startSori(config: Config, opts: { ephemeralPorts?: boolean } = {}): Promise<Sori> {
  setLogLevel(config.server.logLevel as LogLevel);
  const log = createLogger('sori');
  const modules = selectModules(config);
  const store = createStore(storageConfig(config));
  const server = new Server({ config, store, modules, log });
  await server.start();
  const tls = loadCredentials({ cert: config.tls.cert, key: config.tls.key, dir: dataPath(config, 'certs'), hosts: server.hosts, log, baseDir: config.configDir });
  const listening = await listen(server, tls, { ephemeral: opts.ephemeralPorts });
  const control = listenControl(server, dataPath(config, 'sori.sock'));
  log.info(`sori serving ${server.hosts.join(', ')} as node ${server.nodeId} with ${server.moduleNames().length} modules on ${store.name}`);
  let stopping: Promise<void> | null = null;
  const stop = (reason = 'server shutting down'): Promise<void> => {
    stopping ??= (async () => {
      for (const s of [...server.sessions.all()]) s.close('system-shutdown', reason);
      await listening.close();
      control.close();
      await server.stop();
      await store.close();
    })();
    return stopping;
  };
  return { server, store, listening, log, stop };
}
