/**
 * Reads what pytest wrote (its JUnit XML) for aioxmpp's e2e tests and checks it
 * against conformance/aioxmpp/known-failures.txt, for conformance/aioxmpp.test.ts.
 *
 * A test is named by its module under tests/ and its class and method, dotted:
 * `muc.test_e2e.TestMuc.test_leave` (class names alone repeat across modules:
 * TestE2E, TestMessaging). known-failures.txt has the rules of
 * conformance/smack/known-failures.txt: one name per line, then `# why`; a name
 * covers itself and every test below it (`muc.test_e2e.TestMuc` is the class);
 * a leading `-` means the test is not run at all.
 */
import { parse, type Element } from 'ltx';

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface TestResult {
  id: string;
  outcome: Outcome;
  /** The skip reason, or the failure's message and pytest's traceback. */
  detail: string;
}

export interface KnownFailure {
  name: string;
  reason: string;
  /** `-name`: deselected, never run. */
  notRun: boolean;
}

/** The results in the order pytest ran them. */
export function parseJunit(xml: string): TestResult[] {
  const root = parse(xml);
  const suites = root.name === 'testsuites' ? root.getChildren('testsuite') : [root];
  const results: TestResult[] = [];
  for (const suite of suites) {
    for (const tc of suite.getChildren('testcase')) {
      const classname = String(tc.attrs.classname ?? '').replace(/^tests\./, '');
      const id = `${classname}.${String(tc.attrs.name)}`;
      // An <error> is a failure in set-up or tear-down (a test can have both).
      const bad = [...tc.getChildren('failure'), ...tc.getChildren('error')];
      const skipped = tc.getChild('skipped');
      if (bad.length > 0) results.push({ id, outcome: 'failed', detail: bad.map(failureText).join('\n') });
      else if (skipped) results.push({ id, outcome: 'skipped', detail: String(skipped.attrs.message ?? skipped.getText()) });
      else results.push({ id, outcome: 'passed', detail: '' });
    }
  }
  return results;
}

const failureText = (e: Element): string => `${String(e.attrs.message ?? e.name)}\n${e.getText()}`;

export function parseKnownFailures(text: string): KnownFailure[] {
  const known: KnownFailure[] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    let name = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (!name) continue;
    const notRun = name.startsWith('-');
    if (notRun) name = name.slice(1).trim();
    known.push({ name, reason: hash >= 0 ? raw.slice(hash + 1).trim() : '', notRun });
  }
  return known;
}

/** The entry covering a test: its own name or a module or class above it. */
export function knownEntry(known: KnownFailure[], id: string): KnownFailure | undefined {
  return known.find((k) => id === k.name || id.startsWith(`${k.name}.`));
}

/** pytest's node id for a dotted name: `muc.test_e2e.TestMuc.test_leave` -> `tests/muc/test_e2e.py::TestMuc::test_leave`. */
export function nodeId(name: string): string {
  const parts = name.split('.');
  const firstClass = parts.findIndex((p) => /^[A-Z]/.test(p));
  if (firstClass <= 0) return `tests/${parts.join('/')}.py`;
  return [`tests/${parts.slice(0, firstClass).join('/')}.py`, ...parts.slice(firstClass)].join('::');
}

export interface Verdict {
  /** Failures no known-failures line covers: these fail the run. */
  unexpected: TestResult[];
  /** Listed failures that failed. */
  expected: TestResult[];
  /** Lines whose tests ran and none failed (passed, or skipped now): the line can go. */
  noLongerFailing: KnownFailure[];
  /** Lines that match no test that ran (a typo, or a test gone). */
  stale: KnownFailure[];
}

export function judge(results: TestResult[], known: KnownFailure[]): Verdict {
  const v: Verdict = { unexpected: [], expected: [], noLongerFailing: [], stale: [] };
  for (const r of results) {
    if (r.outcome === 'failed') (knownEntry(known, r.id) ? v.expected : v.unexpected).push(r);
  }
  for (const k of known.filter((entry) => !entry.notRun)) {
    const covered = results.filter((r) => r.id === k.name || r.id.startsWith(`${k.name}.`));
    if (covered.length === 0) v.stale.push(k);
    else if (!covered.some((r) => r.outcome === 'failed')) v.noLongerFailing.push(k);
  }
  return v;
}
