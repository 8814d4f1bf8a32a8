#!/usr/bin/env bash
# Fetches Apache Cassandra 5.0's jars from Maven Central into
# .cache/cassandra/lib (git-ignored), so the storage tests can run a real
# single-node Cassandra (src/testing/services/cassandra.ts). Idempotent: a
# stamp holding the pom's checksum makes a second run return at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/cassandra"
pom="$root/scripts/cassandra/pom.xml"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

if [ -f "$cache/lib/.stamp" ] && [ "$(cat "$cache/lib/.stamp")" = "$want" ]; then exit 0; fi

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "setup-cassandra: fetching Cassandra jars into $cache/lib" >&2
mkdir -p "$cache"
rm -rf "$cache/lib.tmp"
if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$cache/lib.tmp" >"$cache/mvn.log" 2>&1; then
  tail -20 "$cache/mvn.log" >&2
  echo "setup-cassandra: mvn could not fetch Cassandra (see $cache/mvn.log)" >&2
  exit 1
fi
echo "$want" > "$cache/lib.tmp/.stamp"
rm -rf "$cache/lib" && mv "$cache/lib.tmp" "$cache/lib" && rm -f "$cache/mvn.log"
