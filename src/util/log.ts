/** Minimal leveled logger writing one line per event to stderr. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
  child(name: string): Logger;
}

let current: LogLevel = (process.env.SORI_LOG_LEVEL as LogLevel | undefined) ?? 'info';
let threshold = ORDER[current] ?? ORDER.info;

export function setLogLevel(level: LogLevel): void {
  current = level;
  threshold = ORDER[level];
}

export function getLogLevel(): LogLevel {
  return current;
}

/** 'text' for people reading a terminal; 'json' (one object per line) for log collectors (Loki, Elasticsearch, CloudWatch). */
export type LogFormat = 'text' | 'json';
let format: LogFormat = 'text';

export function setLogFormat(f: LogFormat): void {
  format = f;
}

function fmt(arg: unknown): string {
  if (arg instanceof Error) return arg.stack ?? arg.message;
  if (typeof arg === 'string') return arg;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

/** One JSON object: an error argument becomes `error` (message and stack), other arguments `detail`. */
function jsonLine(level: LogLevel, logger: string, msg: string, args: unknown[]): string {
  const line: Record<string, unknown> = { time: new Date().toISOString(), level, logger, msg };
  const detail: unknown[] = [];
  for (const a of args) {
    if (a instanceof Error && line.error === undefined) line.error = { message: a.message, stack: a.stack };
    else detail.push(a instanceof Error ? a.message : a);
  }
  if (detail.length > 0) line.detail = detail;
  try {
    return JSON.stringify(line);
  } catch {
    // A detail that cannot be serialised (a cycle) is logged as text.
    return JSON.stringify({ ...line, detail: detail.map(String) });
  }
}

export function createLogger(name: string): Logger {
  const write = (level: LogLevel, msg: string, args: unknown[]): void => {
    if (ORDER[level] < threshold) return;
    if (format === 'json') {
      process.stderr.write(`${jsonLine(level, name, msg, args)}\n`);
      return;
    }
    const extra = args.length ? ' ' + args.map(fmt).join(' ') : '';
    process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} [${name}] ${msg}${extra}\n`);
  };
  return {
    debug: (m, ...a) => write('debug', m, a),
    info: (m, ...a) => write('info', m, a),
    warn: (m, ...a) => write('warn', m, a),
    error: (m, ...a) => write('error', m, a),
    child: (n) => createLogger(`${name}:${n}`),
  };
}
