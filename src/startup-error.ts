import { resolve, sep } from 'node:path';
import { dataPath, type Config } from './config.js';

/** What Node's system errors (node:net, node:fs) carry beside their message. */
interface SystemError extends Error {
  code?: string;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
}

/** OpenSSL's errors (a certificate or key PEM that does not parse) say what failed but not in which file. */
interface OpenSslError extends Error {
  library?: string;
  code?: string;
}

/** The dotted names of every `…port`/`…Port` option set to `port`, so a busy port is named as the operator wrote it. */
function optionsWithPort(config: Config, port: number): string[] {
  const found: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const name = path === '' ? key : `${path}.${key}`;
      if (typeof value === 'number' && /port$/i.test(key) && value === port) found.push(name);
      else walk(value, name);
    }
  };
  walk(config, '');
  return found;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + sep);
}

/** Which option a file path came from: the certificate files, or anything under the data directory. */
function optionOfPath(config: Config, path: string): string | undefined {
  const full = resolve(path);
  for (const key of ['cert', 'key'] as const) {
    const given = config.tls[key];
    if (given !== undefined && resolve(config.configDir, given) === full) return `tls.${key}`;
  }
  if (within(full, dataPath(config))) return 'server.dataDir';
  return undefined;
}

/**
 * One line saying why sori could not start, naming the option to change:
 * operators read it in `journalctl` or `kubectl logs`, where a stack trace of
 * Node internals hides the one line that matters. `config` is undefined when
 * the configuration itself could not be read.
 */
export function describeStartupError(error: unknown, config: Config | undefined): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as SystemError & OpenSslError;
  if (e.syscall === 'listen' && e.port !== undefined && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
    const where = `${e.address ?? ''}:${e.port}`;
    const keys = config === undefined ? [] : optionsWithPort(config, e.port);
    const what = e.code === 'EADDRINUSE' ? 'is already in use (another process listens there)' : 'may not be bound by this user (ports below 1024 need privileges)';
    return `${where} ${what}${keys.length > 0 ? `: change ${keys.join(' or ')}` : ''}`;
  }
  if (e.path !== undefined && e.syscall !== undefined) {
    const option = config === undefined ? undefined : optionOfPath(config, e.path);
    return `${e.message}${option === undefined ? '' : ` (${option})`}`;
  }
  if ((e.library !== undefined || e.code?.startsWith('ERR_OSSL') === true) && config?.tls.cert !== undefined) {
    return `tls.cert ${config.tls.cert} / tls.key ${config.tls.key ?? '(none)'}: ${e.message}`;
  }
  return e.message;
}
