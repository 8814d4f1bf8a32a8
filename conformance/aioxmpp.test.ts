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
 * how to get them. The same suite runs against a two-node cluster in
 * conformance/aioxmpp-cluster.test.ts; the running is shared, in
 * conformance/aioxmpp/harness.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { AIOXMPP_VERSION, HERE, checkPrerequisites, describeUnexpected, e2eIni, readKnownFailures, runSuite } from './aioxmpp/harness.js';
import { startSori, type SoriProcess } from './support/server.js';

const KNOWN_FAILURES = join(HERE, 'known-failures.txt');

describe(`aioxmpp ${AIOXMPP_VERSION} e2e suite against sori (conformance/aioxmpp)`, function () {
  this.timeout(360_000);
  let server: SoriProcess | undefined;
  let workDir: string | undefined;

  before(checkPrerequisites);

  after(async () => {
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('passes every test that known-failures.txt does not list', async () => {
    const token = randomBytes(24).toString('hex');
    server = await startSori({ config: { modules: { enabled: ['admin-api'], options: { 'admin-api': { token } } } } });
    workDir = await mkdtemp(join(tmpdir(), 'sori-aioxmpp-'));
    const ini = join(workDir, 'e2e.ini');
    const api = `http://${new URL(server.wsUrl).host}/api`;
    await writeFile(ini, e2eIni(server.domain, token, [{ host: server.host, port: server.port, api }]));

    const { verdict } = await runSuite(workDir, ini, await readKnownFailures([KNOWN_FAILURES]), 'known-failures.txt');
    expect(verdict.unexpected.map((r) => r.id), `failures not in conformance/aioxmpp/known-failures.txt:\n\n${describeUnexpected(verdict)}\n\nserver output:\n${server.output().slice(-2000)}`).to.deep.equal([]);
  });
});
