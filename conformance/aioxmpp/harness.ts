/**
 * Runs aioxmpp's e2e suite (pytest with aioxmpp's e2etest plugin) against sori
 * and judges the results, for conformance/aioxmpp.test.ts (one sori) and
 * conformance/aioxmpp-cluster.test.ts (a two-node cluster): both write an ini
 * naming the nodes, run the same tests, and fail on what their known-failures
 * files do not list.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { judge, nodeId, parseJunit, parseKnownFailures, type KnownFailure, type TestResult, type Verdict } from './results.js';

export const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
export const AIOXMPP_VERSION = '0.13.3';
const SUITE = join(ROOT, '.cache', 'aioxmpp', AIOXMPP_VERSION);
const PYTHON = '/usr/bin/python3';
const DIST = '/usr/lib/python3/dist-packages';

const PREREQUISITES: [path: string, fix: string][] = [
  [PYTHON, 'apt-get install -y python3'],
  [join(DIST, 'aioxmpp', 'e2etest', '__init__.py'), 'apt-get install -y python3-aioxmpp'],
  [join(DIST, 'pytest', '__init__.py'), 'apt-get install -y python3-pytest'],
  [join(SUITE, 'tests', '__init__.py'), `it fetches Debian's python-aioxmpp_${AIOXMPP_VERSION}.orig.tar.gz and unpacks its tests/`],
];

/** Throws, saying how to get them, when the suite or its interpreter is missing. */
export function checkPrerequisites(): void {
  const missing = PREREQUISITES.filter(([path]) => !existsSync(path));
  if (missing.length) {
    throw new Error(`aioxmpp's e2e suite cannot run; missing:\n${missing.map(([path, fix]) => `  ${path}: run scripts/setup.sh (${fix})`).join('\n')}`);
  }
}

/** A node clients connect to: its c2s port (STARTTLS) and its admin API's base URL. */
export interface E2eNode {
  host: string;
  port: number;
  api: string;
}

/**
 * The e2etest configuration. Successive clients go to successive nodes in
 * turn (sori_provision.py), so with two nodes any two clients a test makes one
 * after the other are on different nodes.
 */
export function e2eIni(domain: string, token: string, nodes: E2eNode[]): string {
  return `[global]
provisioner=sori_provision.FreshAccountProvisioner
# aioxmpp's default is 1 s for a whole test, 4 s when CI=true: one value for both, so that
# a developer's machine and CI (2 shared cores) give the same results.
timeout=4

[sori_provision.FreshAccountProvisioner]
domain=${domain}
# One node a line: host, c2s port, admin API base URL. Clients go to the nodes in turn; each
# account is created through the next node's API (sori_provision.py says why).
nodes=
${nodes.map((n) => `    ${n.host} ${n.port} ${n.api}`).join('\n')}
# The test server's certificate is self-signed.
no_verify=true
token=${token}
# No quirk: each makes aioxmpp skip or soften a check of what sori should do
# (class Quirk in aioxmpp/e2etest/provision.py).
quirks=[]
`;
}

interface PytestRun {
  code: number | null;
  output: string;
  results: TestResult[];
}

async function runPytest(workDir: string, ini: string, selection: string[], deselect: string[]): Promise<PytestRun> {
  const junit = join(workDir, `junit-${Date.now()}.xml`);
  const args = [
    '-m', 'pytest',
    '-p', 'no:cacheprovider',
    '-p', 'aioxmpp.e2etest',
    `--e2etest-config=${ini}`,
    '--e2etest-only',
    // The e2e classes only; the unit tests beside them are deselected, not reported as skipped.
    '-m', 'aioxmpp_e2etest',
    // No ini file from the directories above the suite.
    '-c', '/dev/null', '--rootdir', SUITE,
    '-q', '-W', 'ignore', '-rfEs',
    `--junitxml=${junit}`,
    ...deselect.flatMap((d) => ['--deselect', d]),
    ...selection,
  ];
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: HERE };
  const { code, output } = await new Promise<{ code: number | null; output: string }>((ok) => {
    execFile(PYTHON, args, { cwd: SUITE, env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      ok({ code, output: `${stdout}${stderr}` });
    });
  });
  // pytest: 0 all passed, 1 some failed; anything else (usage, internal error, killed) is the harness's failure.
  if ((code !== 0 && code !== 1) || !existsSync(junit)) {
    throw new Error(`pytest exited with ${String(code)} and ${existsSync(junit) ? 'a' : 'no'} JUnit report:\n${output.slice(-6000)}`);
  }
  return { code, output, results: parseJunit(await readFile(junit, 'utf8')) };
}

/** The entries of the known-failures files, in the order given (a missing file lists nothing). */
export async function readKnownFailures(files: string[]): Promise<KnownFailure[]> {
  const known: KnownFailure[] = [];
  for (const file of files) known.push(...parseKnownFailures(existsSync(file) ? await readFile(file, 'utf8') : ''));
  return known;
}

export interface SuiteRun {
  results: TestResult[];
  verdict: Verdict;
  /** pytest's output of the first run. */
  output: string;
}

/**
 * Runs the whole suite once, then once more the unlisted failures alone: as
 * for Smack, a test can depend on timing, and one that passes then counts as
 * passed and is named as flaky. Prints every test's outcome (a skip's reason
 * often says which feature sori does not offer) and what the known-failures
 * lines (`listedIn` names their files) should lose.
 */
export async function runSuite(workDir: string, ini: string, known: KnownFailure[], listedIn: string): Promise<SuiteRun> {
  const run = await runPytest(workDir, ini, ['tests'], known.filter((k) => k.notRun).map((k) => nodeId(k.name)));
  let verdict = judge(run.results, known);
  const flaky: string[] = [];
  if (verdict.unexpected.length > 0) {
    console.log(`    aioxmpp: ${verdict.unexpected.length} unlisted failure(s), running them once more`);
    const retry = await runPytest(workDir, ini, verdict.unexpected.map((r) => nodeId(r.id)), []);
    for (const again of retry.results.filter((r) => r.outcome !== 'failed')) {
      const first = run.results.find((r) => r.id === again.id);
      if (first) Object.assign(first, again);
      flaky.push(again.id);
    }
    verdict = judge(run.results, known);
  }

  const width = Math.max(...run.results.map((r) => r.id.length));
  for (const r of run.results) {
    const listed = r.outcome === 'failed' && !verdict.unexpected.includes(r) ? ' (listed)' : '';
    const why = r.outcome === 'skipped' ? `  ${r.detail}` : r.outcome === 'failed' ? `  ${r.detail.split('\n')[0]}` : '';
    console.log(`    ${r.outcome.padEnd(7)} ${r.id.padEnd(width)}${listed}${why}`.trimEnd());
  }
  const count = (o: string): number => run.results.filter((r) => r.outcome === o).length;
  console.log(`    aioxmpp: ${count('passed')} passed, ${count('failed')} failed (${verdict.expected.length} listed), ${count('skipped')} skipped`);
  if (flaky.length) console.log(`    aioxmpp: failed once, not on retry (flaky): ${flaky.join('; ')}`);
  for (const k of verdict.noLongerFailing) console.log(`    aioxmpp: no longer fails, remove from ${listedIn}: ${k.name}`);
  for (const k of verdict.stale) console.log(`    aioxmpp: ${listedIn} names no test that ran: ${k.name}`);
  if (run.results.length === 0) throw new Error(`pytest ran no e2e test:\n${run.output.slice(-4000)}`);
  return { results: run.results, verdict, output: run.output };
}

/** The unlisted failures with their messages, for the assertion's text. */
export function describeUnexpected(verdict: Verdict): string {
  return verdict.unexpected.map((r) => `${r.id}: ${r.detail}`).join('\n\n');
}
