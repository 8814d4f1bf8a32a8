#!/usr/bin/env bash
# Runs Smack's integration test framework (sinttest) against a freshly started
# server and compares the failures with a known-failures list.
#
#   conformance/smack/run.sh                   # against sori (what `npm test` runs)
#   conformance/smack/run.sh --target prosody  # against Debian's Prosody on 127.0.0.9 (harness sanity check)
#
# Environment:
#   SMACK_ENABLED_SPECS    e.g. "RFC6121,XEP-0030" (sinttest.enabledSpecifications)
#   SMACK_ENABLED_TESTS    e.g. "RosterIntegrationTest" (sinttest.enabledTests)
#   SMACK_DISABLED_TESTS   extra sinttest.disabledTests
#   SMACK_REPLY_TIMEOUT    milliseconds, default 10000
#   SMACK_KEEP=1           keep the work directory (logs, report.tsv)
# Needs: java 11+ and .cache/smack/{lib,classes} (scripts/setup.sh makes them).
# sinttest has no port option: the server under test must listen on 5222.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=sori
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    *) echo "usage: $0 [--target sori|prosody]" >&2; exit 2 ;;
  esac
done

fail() { echo "smack: $*" >&2; echo "smack: 0 passed, 1 failed"; exit 1; }
command -v java >/dev/null || fail "java is missing: run scripts/setup.sh (or apt-get install -y openjdk-17-jre-headless)"
lib=$root/.cache/smack/lib
classes=$root/.cache/smack/classes
[ -f "$classes/sori/TsvReport.class" ] && compgen -G "$lib/smack-integration-test-*.jar" >/dev/null \
  || fail "Smack's jars are missing from $lib: run scripts/setup.sh"

work=$(mktemp -d /tmp/sori-smack.XXXXXX)
admin_pw=admin-$RANDOM$RANDOM
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  [ "$target" = prosody ] && "$root/conformance/support/prosody.sh" stop "$work/prosody" || true
  if [ "${SMACK_KEEP:-}" = 1 ] || [ $rc -ne 0 ]; then echo "smack: logs kept in $work" >&2; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap '[[ $- == *e* ]] && echo "smack: run.sh failed at line $LINENO" >&2' ERR

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

case "$target" in
prosody)
  host=127.0.0.9
  known=$here/known-failures-prosody.txt
  "$root/conformance/support/prosody.sh" start "$work/prosody"
  "$root/conformance/support/prosody.sh" adduser "$work/prosody" admin "$admin_pw"
  ;;
sori)
  # Its own loopback address, so a developer's sori or Prosody on 127.0.0.1:5222 is no obstacle.
  host=${SORI_SMACK_HOST:-127.0.0.8}
  known=$here/known-failures.txt
  if (exec 3<>"/dev/tcp/$host/5222") 2>/dev/null; then
    fail "something already listens on $host:5222 (sinttest can only use port 5222); stop it or set SORI_SMACK_HOST to another 127.x address"
  fi
  # sori.json is the template; data lives in the work dir.
  node -e '
    const fs = require("fs");
    const [tpl, out, data, host] = process.argv.slice(1);
    const text = fs.readFileSync(tpl, "utf8").replaceAll("@DATA@", data).replaceAll("@HOST@", host);
    fs.writeFileSync(out, text);
  ' "$here/sori.json" "$work/sori.json" "$work/data" "$host"
  mkdir -p "$work/data"
  (cd "$root" && npx tsx src/ctl.ts --config "$work/sori.json" adduser admin@localhost "$admin_pw") >"$work/ctl.log" 2>&1 \
    || { cat "$work/ctl.log" >&2; fail "could not create admin@localhost with src/ctl.ts"; }
  # npm start: sori with the Node flags it is meant to run with (src/node-flags.ts).
  (cd "$root" && exec setsid npm start --silent -- --config "$work/sori.json") >"$work/sori.log" 2>&1 &
  pids+=($!)
  wait_port "$host" 5222 60 || { tail -30 "$work/sori.log" >&2; fail "sori did not listen on $host:5222 within 60 s"; }
  ;;
*) fail "unknown target $target" ;;
esac

# Trust exactly the certificate the server presents after STARTTLS: it goes
# into a one-off truststore given to the JVM. (sinttest.serviceTlsPin cannot be
# used: Smack 4.5.0-beta5 re-initialises the pinned SSLContext with the JVM's
# default trust managers, so a pin never takes effect.)
openssl s_client -connect "$host:5222" -starttls xmpp -xmpphost localhost </dev/null 2>/dev/null \
  | openssl x509 -outform PEM >"$work/server.pem" 2>/dev/null \
  || fail "could not read the server's certificate over STARTTLS on $host:5222"
keytool -importcert -noprompt -alias sori -file "$work/server.pem" -keystore "$work/trust.p12" \
  -storetype PKCS12 -storepass changeit >/dev/null 2>&1 || fail "keytool could not import $work/server.pem"

# Slot URLs name https://localhost:5443 (the upload module's default); the
# server listens on $host, so the JVM resolves localhost there.
printf '%s localhost\n' "$host" >"$work/hosts"

props=(
  -Djdk.net.hosts.file="$work/hosts"
  -Dsinttest.service=localhost
  -Dsinttest.host="$host"
  -Dsinttest.securityMode=required
  -Djavax.net.ssl.trustStore="$work/trust.p12"
  -Djavax.net.ssl.trustStorePassword=changeit
  -Djavax.net.ssl.trustStoreType=PKCS12
  -Dsinttest.adminAccountUsername=admin
  -Dsinttest.adminAccountPassword="$admin_pw"
  -Dsinttest.replyTimeout="${SMACK_REPLY_TIMEOUT:-10000}"
  -Dsinttest.dnsResolver=javax
  # Only the classic XMPPTCPConnection ("tcp"). A low-level test that cannot
  # connect aborts the whole run, and the others cannot connect here: Smack finds
  # WebSocket endpoints only through XEP-0156 host-meta over HTTPS on port 443,
  # and the modular TCP transport's TLS handshake stalls on Java 17 (seen against
  # Prosody too).
  -Dsinttest.disabledConnections=modular,modular-nocompress,modular-websocket-okhttp,modular-websocket-java11
  -Dsinttest.testRunResultProcessors=org.igniterealtime.smack.inttest.SmackIntegrationTestFramework\$JulTestRunResultProcessor,sori.TsvReport
)
[ -n "${SMACK_ENABLED_SPECS:-}" ] && props+=(-Dsinttest.enabledSpecifications="$SMACK_ENABLED_SPECS")
[ -n "${SMACK_ENABLED_TESTS:-}" ] && props+=(-Dsinttest.enabledTests="$SMACK_ENABLED_TESTS")
# Known failures written "-Test # reason" are not run at all: sinttest aborts the
# whole run on some exceptions (e.g. IllegalArgumentException from a form field
# the server lacks), so such tests must be left out rather than tolerated.
not_run=$(sed -n 's/^[[:space:]]*-[[:space:]]*\([^#[:space:]]*\).*/\1/p' "$known" 2>/dev/null | paste -sd, -)
disabled=$(printf '%s\n' "$not_run" "${SMACK_DISABLED_TESTS:-}" | sed '/^$/d' | paste -sd, -)
[ -n "$disabled" ] && props+=(-Dsinttest.disabledTests="$disabled")

run_sinttest() { # report-file log-file extra-properties...
  local report=$1 log=$2
  shift 2
  # No properties file is read from the cwd or ~/.config: run in the work dir with HOME there.
  (cd "$work" && HOME=$work timeout 1500 java -Xmx512m "${props[@]}" "$@" -Dsori.report="$report" \
    -cp "$classes:$lib/*" sori.Launcher) >"$log" 2>&1
}

echo "smack: running sinttest against $target on $host:5222 (log: $work/sinttest.log)"
start=$SECONDS
set +e
run_sinttest "$work/report.tsv" "$work/sinttest.log"
java_rc=$?
set -e
echo "smack: sinttest exited $java_rc after $((SECONDS - start)) s"
if [ ! -s "$work/report.tsv" ]; then
  grep -v '^[[:space:]]*at ' "$work/sinttest.log" | tail -15 >&2
  last=$(sed -n 's/^INFO: \(.*\) Start$/\1/p' "$work/sinttest.log" | tail -1)
  [ -n "$last" ] && echo "smack: the run aborted during: $last" >&2 \
    && echo "smack: if the server is right to fail it, add '-${last%% (*}  # reason' to $known" >&2
  fail "sinttest wrote no report (exit $java_rc)"
fi
# sinttest has timing-dependent tests: unlisted failures get one more run on their own.
retry=$(node "$here/report.mjs" --unexpected "$work/report.tsv" "$known" | sort -u | paste -sd, -)
if [ -n "$retry" ]; then
  echo "smack: retrying once: $retry"
  set +e
  run_sinttest "$work/retry.tsv" "$work/retry.log" -Dsinttest.enabledTests="$retry"
  set -e
fi
node "$here/report.mjs" "$work/report.tsv" "$known" "$work/retry.tsv"
