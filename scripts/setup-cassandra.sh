#!/usr/bin/env bash
# Fetches Apache Cassandra's jars from Maven Central into .cache/cassandra/lib,
# so the storage tests can run a real single-node Cassandra
# (src/testing/services/cassandra.ts). Idempotent: a stamp holding the pom's
# checksum makes a second run return at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$root/.cache/cassandra/lib"
pom="$root/scripts/cassandra/pom.xml"
stamp="$lib/.stamp"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

rm -rf "$lib"
mkdir -p "$lib"
mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib"
echo "$want" > "$stamp"
echo "cassandra jars in $lib"
