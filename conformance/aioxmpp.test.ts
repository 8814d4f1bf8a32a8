/**
 * sori against aioxmpp's own end-to-end suite: the e2e tests of aioxmpp 0.13.3
 * (tests/ of Debian's source tarball, fetched by scripts/setup.sh into
 * .cache/aioxmpp) run by pytest with aioxmpp's e2etest plugin, on Debian's
 * python3-aioxmpp and python3-pytest under /usr/bin/python3. Every test gets
 * fresh accounts from conformance/aioxmpp/sori_provision.py (why: there).
 *
 * One mocha test for the whole suite: it prints each aioxmpp test as passed,
 * failed or skipped (with the reason: a skip often means sori does not offer a
 * feature the test needs), and fails on any failure that
 * conformance/aioxmpp/known-failures.txt does not list. A listed test that
 * passes is printed so its line can go. Missing pieces are failures that say
 * how to get them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { judge, nodeId, parseJunit, parseKnownFailures, type TestResult } from './aioxmpp/results.js';
import { startSori, type SoriProcess } from './support/server.js';

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'aioxmpp');
const ROOT = join(HERE, '..', '..');
const AIOXMPP_VERSION = '0.13.3';
const SUITE = join(ROOT, '.cache', 'aioxmpp', AIOXMPP_VERSION);
const KNOWN_FAILURES = join(HERE, 'known-failures.txt');
const PYTHON = '/usr/bin/python3';
const DIST = '/usr/lib/python3/dist-packages';

const PREREQUISITES: [path: string, fix: string][] = [
  [PYTHON, 'apt-get install -y python3'],
  [join(DIST, 'aioxmpp', 'e2etest', '__init__.py'), 'apt-get install -y python3-aioxmpp'],
  [join(DIST, 'pytest', '__init__.py'), 'apt-get install -y python3-pytest'],
  [join(SUITE, 'tests', '__init__.py'), `it fetches Debian's python-aioxmpp_${AIOXMPP_VERSION}.orig.tar.gz and unpacks its tests/`],
];

/** The e2etest configuration: sori's c2s port, and the admin API that creates each test's accounts. */
function e2eIni(server: SoriProcess, token: string): string {
  const http = new URL(server.wsUrl);
  return `[global]
provisioner=sori_provision.FreshAccountProvisioner
# aioxmpp's default is 1 s for a whole test, 4 s when CI=true: one value for both, so that
# a developer's machine and CI (2 shared cores) give the same results.
timeout=4

[sori_provision.FreshAccountProvisioner]
host=${server.host}
domain=${server.domain}
port=${server.port}
# The test server's certificate is self-signed.
no_verify=true
api=http://${http.host}/api
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

describe(`aioxmpp ${AIOXMPP_VERSION} e2e suite against sori (conformance/aioxmpp)`, function () {
  this.timeout(360_000);
  let server: SoriProcess | undefined;
  let workDir: string | undefined;

  before(function () {
    const missing = PREREQUISITES.filter(([path]) => !existsSync(path));
    if (missing.length) {
      throw new Error(`aioxmpp's e2e suite cannot run; missing:\n${missing.map(([path, fix]) => `  ${path}: run scripts/setup.sh (${fix})`).join('\n')}`);
    }
  });

  after(async () => {
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('passes every test that known-failures.txt does not list', async () => {
    const token = randomBytes(24).toString('hex');
    server = await startSori({ config: { modules: { enabled: ['admin-api'], options: { 'admin-api': { token } } } } });
    workDir = await mkdtemp(join(tmpdir(), 'sori-aioxmpp-'));
    const ini = join(workDir, 'e2e.ini');
    await writeFile(ini, e2eIni(server, token));
    const known = parseKnownFailures(existsSync(KNOWN_FAILURES) ? await readFile(KNOWN_FAILURES, 'utf8') : '');

    const run = await runPytest(workDir, ini, ['tests'], known.filter((k) => k.notRun).map((k) => nodeId(k.name)));
    let verdict = judge(run.results, known);
    // As for Smack: unlisted failures run once more on their own, since a test can depend on
    // timing; one that passes then counts as passed and is named as flaky.
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
    for (const k of verdict.noLongerFailing) console.log(`    aioxmpp: no longer fails, remove from known-failures.txt: ${k.name}`);
    for (const k of verdict.stale) console.log(`    aioxmpp: known-failures.txt names no test that ran: ${k.name}`);

    expect(run.results.length, `pytest ran no e2e test:\n${run.output.slice(-4000)}`).to.be.greaterThan(0);
    const unexpected = verdict.unexpected.map((r) => `${r.id}: ${r.detail}`).join('\n\n');
    expect(verdict.unexpected.map((r) => r.id), `failures not in conformance/aioxmpp/known-failures.txt:\n\n${unexpected}\n\nserver output:\n${server.output().slice(-2000)}`).to.deep.equal([]);
  });
});
