/**
 * Runs one scenario script of a Python client library's suite (conformance/slixmpp/, conformance/nbxmpp/) with
 * Debian's /usr/bin/python3 against a running sori, and returns the JSON result the script prints last.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import type { SoriProcess } from './server.js';

const PYTHON = '/usr/bin/python3';

export interface ScenarioResult {
  ok: boolean;
  step?: string;
  error?: string;
  condition?: string;
  [key: string]: unknown;
}

export function runPythonScenario(scriptsDirectory: string, server: SoriProcess, script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> {
  const args = [join(scriptsDirectory, script), '--host', server.host, '--port', String(server.port), '--timeout', '8', ...extra];
  for (const [jid, pw] of accounts) args.push('--account', jid, pw);
  // No __pycache__ left in the work tree by the scripts' import of common.py.
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
  return new Promise((ok, fail) => {
    execFile(PYTHON, args, { timeout: 60_000, env }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        ok(JSON.parse(line) as ScenarioResult);
      } catch {
        fail(new Error(`${script} printed no JSON result (${err?.message ?? 'exit 0'}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** Runs a scenario and asserts it ended ok, showing its whole JSON result and the server's last output otherwise. */
export async function expectPythonScenarioOk(scriptsDirectory: string, server: SoriProcess, script: string, accounts: [string, string][], extra: string[] = []): Promise<ScenarioResult> {
  const r = await runPythonScenario(scriptsDirectory, server, script, accounts, extra);
  expect(r.ok, `${script}: ${JSON.stringify(r)}\nserver output:\n${server.output().slice(-2000)}`).to.equal(true);
  return r;
}
