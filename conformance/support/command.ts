/**
 * Command-line programs as test clients (go-sendxmpp, sendxmpp, openssl): run
 * one to its end with its input given, or keep one running (a listener) and
 * wait for what it prints. Every wait has a limit, so a tool that hangs fails
 * the test with its output instead of stalling the suite.
 */
import { spawn } from 'node:child_process';
import https from 'node:https';
import { withTimeout } from './clients.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the program's standard input, which is then closed. */
  stdin?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Killed after this long (default 20 s); the result then has code null. */
  ms?: number;
}

/** Runs `cmd` to its end. */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.ms ?? 20_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      ok({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // a program that exits before reading its input
    child.stdin.end(opts.stdin ?? '');
  });
}

/** `r` when the program exited 0; otherwise an error carrying its output. */
export function succeeded(r: CommandResult, what: string): CommandResult {
  if (r.code !== 0) throw new Error(`${what} exited ${String(r.code)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export interface RunningCommand {
  /** Resolves once stdout and stderr together match `re`; rejects after `ms` with what was printed. */
  printed(re: RegExp, what: string, ms?: number): Promise<void>;
  stop(): void;
}

/** Starts `cmd` with no input and keeps what it prints (stdout and stderr as one text). */
export function startCommand(cmd: string, args: string[], env: Record<string, string> = {}): RunningCommand {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const checks = new Set<() => void>();
  const add = (d: Buffer): void => {
    out += d.toString();
    for (const check of [...checks]) check();
  };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  return {
    async printed(re, what, ms = 10_000) {
      let check!: () => void;
      const seen = new Promise<void>((ok) => {
        check = () => {
          if (!re.test(out)) return;
          checks.delete(check);
          ok();
        };
      });
      checks.add(check);
      check();
      try {
        await withTimeout(seen, ms, what);
      } catch (e) {
        checks.delete(check);
        throw new Error(`${(e as Error).message}; ${cmd} printed:\n${out}`);
      }
    },
    stop: () => child.kill('SIGKILL'),
  };
}

/** `text` matched literally inside a RegExp. */
export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** GET over HTTPS trusting only `ca` (PEM), as a user who installed the server's certificate would. */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((ok, fail) => {
    https
      .get(url, { ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      })
      .on('error', fail);
  });
}
