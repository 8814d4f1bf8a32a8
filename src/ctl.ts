#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig, dataPath, type Config } from './config.js';
import { sendControl, runCommand, CONTROL_TIMEOUT_MS, type ControlCommand } from './control.js';
import { createStore, copyStore } from './storage/index.js';
import type { WideColumnStore } from './storage/wide-column.js';
import { ConfigError } from './util/options.js';
import { createLogger, setLogLevel } from './util/log.js';
import { Server } from './xmpp/server.js';
import { selectModules, storageConfig } from './sori.js';
import { ALL_MODULES } from './xmpp/modules/index.js';

const USAGE = `usage: sorictl [--config FILE] [--timeout SECONDS] <command>
  --timeout SECONDS        how long to wait for a running server's answer (default ${CONTROL_TIMEOUT_MS / 1000})
  adduser JID [PASSWORD]   create an account
  passwd JID [PASSWORD]    change a password
                           without PASSWORD: typed without echo, or the first line of stdin
                           (a password on the command line shows in ps and the shell history)
  deluser JID              delete an account and all its data
  list [DOMAIN]            list accounts
  storage init             create tables (keyspace) for every module
  storage copy --from FILE --to FILE [--checkpoint FILE]
                           copy all data between two configured stores`;

function fail(msg: string): never {
  process.stderr.write(`sorictl: ${msg}\n`);
  process.exit(1);
}

/** Whether `e`, or an error it was caused by, is LevelDB finding its lock held: another process has the store open. */
function storeLocked(e: unknown): boolean {
  for (let at: unknown = e; at instanceof Error; at = at.cause) {
    if ((at as { code?: unknown }).code === 'LEVEL_LOCKED') return true;
  }
  return false;
}

/** Runs an account command in-process when no server answered on its control socket at `socket`. */
async function offline(config: Config, c: ControlCommand, socket: string): Promise<void> {
  // Accounts made in a memory store of our own would be gone when ctl exits, though it said "created".
  if (config.storage.backend === 'memory') fail(`is sori running? no server answered on its control socket ${socket}, and with storage.backend "memory" the accounts live only in the server`);
  setLogLevel('warn');
  const storage = storageConfig(config);
  let store: WideColumnStore;
  let server: Server;
  try {
    store = await createStore(storage);
    server = new Server({ config, store, modules: selectModules(config), log: createLogger('ctl') });
    await server.start();
  } catch (e) {
    // The server holds the store while it runs: its control socket is the way in, and it did not answer.
    if (storeLocked(e)) fail(`the store ${storage.backend === 'leveldb' ? `at ${storage.path} ` : ''}is in use by another process (a running sori?), and no server answered on its control socket ${socket}; its log says why when the socket could not be opened`);
    throw e;
  }
  try {
    report(await runCommand(server, c));
  } finally {
    await server.stop();
    await store.close();
  }
}

function report(r: { ok: true; output: string } | { ok: false; error: string }): void {
  if (r.ok) {
    if (r.output) process.stdout.write(r.output + '\n');
  } else fail(r.error);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, timeout: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, checkpoint: { type: 'string' } },
  });
  const [cmd, a, b] = positionals;
  const timeoutSeconds = values.timeout === undefined ? CONTROL_TIMEOUT_MS / 1000 : Number(values.timeout);
  if (!(timeoutSeconds > 0 && timeoutSeconds <= 86_400)) fail(`--timeout: got "${values.timeout}", expected a number of seconds above 0 and at most 86400`);
  const config = loadConfig({ file: values.config });
  let command: ControlCommand;
  switch (cmd) {
    case 'adduser':
    case 'passwd': {
      if (!a) fail(USAGE);
      const password = b ?? (await readPassword(`password for ${a}: `));
      if (password === '') fail('no password given');
      command = { cmd, jid: a, password };
      break;
    }
    case 'deluser':
      if (!a) fail(USAGE);
      command = { cmd, jid: a };
      break;
    case 'list':
      command = { cmd, domain: a ?? config.server.hosts[0]! };
      break;
    case 'storage':
      return storage(config, a, values);
    default:
      fail(USAGE);
  }
  const socket = dataPath(config, 'sori.sock');
  const viaServer = await sendControl(socket, command, timeoutSeconds * 1000);
  if (viaServer !== null) report(viaServer);
  else await offline(config, command, socket);
}

/** The first line of stdin; on a terminal, typed after `prompt` without echo. */
async function readPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  input.setEncoding('utf8');
  if (input.isTTY) {
    process.stderr.write(prompt);
    input.setRawMode(true);
  }
  let typed = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      if (chunk === '\u0003') fail('cancelled'); // Ctrl+C, which raw mode delivers as a character
      typed += chunk;
      if (/[\r\n]/.test(typed)) break;
    }
  } finally {
    if (input.isTTY) {
      input.setRawMode(false);
      process.stderr.write('\n');
    }
    input.pause();
  }
  return typed.split(/\r?\n|\r/)[0]!;
}

async function storage(config: Config, sub: string | undefined, values: { from?: string; to?: string; checkpoint?: string }): Promise<void> {
  const tables = Server.tables(ALL_MODULES);
  if (sub === 'init') {
    const store = await createStore(storageConfig(config));
    await store.ensureTables(tables);
    await store.close();
    process.stdout.write(`created ${tables.length} tables on ${config.storage.backend}: ${tables.map((t) => t.name).join(', ')}\n`);
    return;
  }
  if (sub === 'copy') {
    if (!values.from || !values.to) fail('storage copy needs --from FILE and --to FILE (config files whose storage sections name the stores)');
    const from = await createStore(storageConfig(loadConfig({ file: values.from })));
    const to = await createStore(storageConfig(loadConfig({ file: values.to })));
    await from.ensureTables(tables);
    await to.ensureTables(tables);
    const result = await copyStore(from, to, tables, {
      resumeFrom: values.checkpoint,
      onProgress: (p) => process.stderr.write(`\r${JSON.stringify(p)}   `),
    });
    process.stderr.write('\n');
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    await from.close();
    await to.close();
    if (result.mismatched.length > 0) fail(`row counts differ after copy in: ${result.mismatched.join(', ')}`);
    if (result.refused.length > 0) fail(`${result.refused.length} rows too large for the target were left out (listed in "refused")`);
    return;
  }
  fail(USAGE);
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) fail(`configuration error: ${e.message}`);
  fail(e instanceof Error ? e.message : String(e));
});
