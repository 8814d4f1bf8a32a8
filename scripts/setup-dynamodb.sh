#!/usr/bin/env bash
# DynamoDB Local ships inside the npm package amplify-dynamodb-simulator and
# needs a Java runtime; this checks both for src/testing/services/dynamodb-local.ts.
# Idempotent and instant when done.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v java >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
jar="$root/node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar"
test -f "$jar" || { echo "setup-dynamodb: $jar missing: run npm ci (scripts/setup.sh does)" >&2; exit 1; }
