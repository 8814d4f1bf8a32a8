#!/usr/bin/env bash
# DynamoDB Local ships inside the npm package amplify-dynamodb-simulator and
# needs a Java runtime; this makes sure both are there for
# src/testing/services/dynamodb-local.ts. Idempotent and fast when done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v java >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless
fi
jar="$root/node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar"
if [ ! -f "$jar" ]; then
  (cd "$root" && flock /tmp/npm.lock npm install --no-audit --no-fund)
fi
test -f "$jar" || { echo "DynamoDBLocal.jar missing at $jar" >&2; exit 1; }
