#!/usr/bin/env bash
# The test command (`npm test`, called by .ci/run): setup, typecheck, mocha over
# src/ and conformance/, the unit tests (src/) again on Node 22 and 24, then
# Smack's integration tests against sori. Every step runs even when an earlier
# one failed; the last line is "N passed, N failed" (mocha tests on each Node +
# Smack tests + 1 for the typecheck) and the exit code is non-zero if anything
# failed. A missing prerequisite is a failure with the fix, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-}
passed=0 failed=0 failed_steps=()

step() { printf '\n==> %s\n' "$*"; }

step "setup (scripts/setup.sh)"
if ! bash scripts/setup.sh </dev/null; then
  echo "setup failed: fix the error above (scripts/setup.sh installs every prerequisite) and rerun npm test"
  echo "0 passed, 1 failed"
  exit 1
fi

step "typecheck (tsc --noEmit -p .)"
if npx tsc --noEmit -p . </dev/null; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_steps+=(typecheck); fi

# Runs mocha (command and arguments after the step name) and adds its counts.
mocha_step() {
  local name=$1; shift
  local log rc p f
  log=$(mktemp)
  "$@" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # Mocha's closing lines: "  12 passing (3s)", "  2 failing", "  1 pending".
  p=$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$log" | tail -1)
  rm -f "$log"
  passed=$((passed + ${p:-0}))
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + ${f:-0}))
    [ -n "$f" ] || failed=$((failed + 1))  # mocha died before counting (load error, no test files)
    failed_steps+=("$name")
  fi
}

step "mocha (src/**/*.test.ts, conformance/**/*.test.ts)"
mocha_step mocha npx mocha --reporter spec 'src/**/*.test.ts' 'conformance/**/*.test.ts'

# The same unit tests on the other current Node LTS lines (scripts/setup-node-versions.sh
# fetched them): the code must stay valid there, not only on the Node that runs the rest.
for major in ${SORI_TEST_NODE_MAJORS:-22 24}; do
  node_bin=$PWD/.cache/node/$major/bin
  step "mocha on Node $("$node_bin/node" --version 2>/dev/null || echo "$major: missing, run scripts/setup-node-versions.sh") (src/**/*.test.ts)"
  mocha_step "mocha-node$major" env PATH="$node_bin:$PATH" "$node_bin/node" node_modules/mocha/bin/mocha.js --reporter dot 'src/**/*.test.ts'
done

step "Smack integration tests (conformance/smack/run.sh)"
log=$(mktemp)
bash conformance/smack/run.sh </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^smack: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
rm -f "$log"
if [ -n "$line" ]; then
  read -r p f < <(sed -E 's/^smack: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f))
fi
if [ "$rc" -ne 0 ]; then
  [ -n "$line" ] && [ "${f:-0}" -gt 0 ] || failed=$((failed + 1))
  failed_steps+=(smack)
fi

echo
[ ${#failed_steps[@]} -eq 0 ] || echo "failed steps: ${failed_steps[*]}"
echo "$passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ]
