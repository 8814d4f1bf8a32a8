#!/usr/bin/env bash
# Prerequisites of conformance/converse.test.ts: Debian's Chromium (headless,
# driven by playwright-core from node_modules) and Converse.js's own release
# from the npm registry, unpacked into .cache/converse (git-ignored; a release
# bundle, not a dependency: its 16 build-time dependencies are not needed).
# Idempotent: what is there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
CONVERSE_VERSION=14.0.0

if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { echo "setup-converse: Chromium is missing; run as root or: sudo apt-get install -y --no-install-recommends chromium" >&2; exit 1; }
  echo "setup: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || { echo "setup-converse: apt-get update failed" >&2; exit 1; }
  apt-get install -y -qq --no-install-recommends chromium >/dev/null || { echo "setup-converse: apt-get install chromium failed" >&2; exit 1; }
fi

target=.cache/converse
if [ "$(cat "$target/version" 2>/dev/null)" != "$CONVERSE_VERSION" ] || [ ! -f "$target/package/dist/converse.min.js" ]; then
  echo "setup: fetching Converse.js $CONVERSE_VERSION into $target" >&2
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "converse.js@$CONVERSE_VERSION" >/dev/null) \
    || { rm -rf "$work"; echo "setup-converse: npm pack converse.js@$CONVERSE_VERSION failed (is registry.npmjs.org reachable?)" >&2; exit 1; }
  tar xzf "$work"/*.tgz -C "$work"
  rm -rf "$target" && mkdir -p "$target" && mv "$work/package" "$target/package" && echo "$CONVERSE_VERSION" > "$target/version"
  rm -rf "$work"
fi
