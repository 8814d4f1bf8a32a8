// Summarises a sinttest report (written by src/sori/TsvReport.java) per
// specification and checks its failures against a known-failures list.
//   node report.mjs report.tsv known-failures.txt [retry.tsv]
//   node report.mjs --unexpected report.tsv known-failures.txt   (prints Class.method of unlisted failures)
// retry.tsv is a second run of just the unlisted failures: a test that passes
// there counts as passed and is named as flaky.
// A known-failures line is a test name, optionally followed by "# reason". A name
// matches Smack's concrete test "Class.method (Type, …)" exactly, by "Class.method",
// or by "Class" (every test of the class). Exit 1 if any failure is not listed.
import { readFileSync, existsSync } from 'node:fs';

const argv = process.argv.slice(2);
const listOnly = argv[0] === '--unexpected';
if (listOnly) argv.shift();
const [reportFile, knownFile, retryFile] = argv;
if (!reportFile || !knownFile) {
  console.error('usage: node report.mjs [--unexpected] report.tsv known-failures.txt [retry.tsv]');
  process.exit(2);
}

/** Rows of a report file: { status, spec, test, reason }. */
function rows(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [status, spec, test, reason] = line.split('\t');
      return { status, spec, test, reason };
    });
}
const passedOnRetry = new Set(retryFile && existsSync(retryFile) ? rows(retryFile).filter((r) => r.status === 'passed').map((r) => r.test) : []);

const known = new Map(); // name -> reason
if (existsSync(knownFile)) {
  for (const raw of readFileSync(knownFile, 'utf8').split('\n')) {
    const hash = raw.indexOf('#');
    const name = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (name) known.set(name, hash >= 0 ? raw.slice(hash + 1).trim() : '');
  }
}

/** The known-failures entry covering `test`, if any. */
function knownEntry(test) {
  const method = test.split(' (')[0];
  const cls = method.split('.')[0];
  for (const key of [test, method, cls]) if (known.has(key)) return key;
  return undefined;
}

const perSpec = new Map();
const totals = { passed: 0, failed: 0, impossible: 0 };
const unexpected = [];
const flaky = [];
for (let { status, spec, test, reason } of rows(reportFile)) {
  if (!(status in totals)) continue;
  if (status === 'failed' && passedOnRetry.has(test)) {
    flaky.push(test);
    status = 'passed';
  }
  totals[status]++;
  const row = perSpec.get(spec) ?? { passed: 0, failed: 0, impossible: 0 };
  row[status]++;
  perSpec.set(spec, row);
  if (status === 'failed') {
    const entry = knownEntry(test);
    if (entry === undefined) unexpected.push({ test, line: `${test} [${spec}]: ${reason}` });
  } else if (status === 'passed') {
    const entry = knownEntry(test);
    if (entry !== undefined && entry === test) console.log(`smack: now passes, remove from ${knownFile}: ${test}`);
  }
}

if (listOnly) {
  for (const u of unexpected) console.log(u.test.split(' (')[0]);
  process.exit(0);
}

const specs = [...perSpec.keys()].sort();
const width = Math.max(13, ...specs.map((s) => s.length));
console.log(`${'specification'.padEnd(width)}  passed  failed  impossible`);
for (const spec of specs) {
  const r = perSpec.get(spec);
  console.log(`${spec.padEnd(width)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.impossible).padStart(10)}`);
}
console.log(`${'total'.padEnd(width)}  ${String(totals.passed).padStart(6)}  ${String(totals.failed).padStart(6)}  ${String(totals.impossible).padStart(10)}`);
const knownFailed = totals.failed - unexpected.length;
if (knownFailed) console.log(`smack: ${knownFailed} failure(s) listed in ${knownFile}`);
if (unexpected.length) {
  console.log(`smack: ${unexpected.length} failure(s) NOT in ${knownFile}:`);
  for (const u of unexpected) console.log(`  ${u.line}`);
}
if (flaky.length) console.log(`smack: failed once, passed on retry (flaky): ${flaky.join('; ')}`);
// The closing line counts listed failures as expected, not as failed.
console.log(`smack: ${totals.passed} passed, ${unexpected.length} failed`);
process.exit(unexpected.length ? 1 : 0);
