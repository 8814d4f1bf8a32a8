#!/usr/bin/env bash
# Builds native/tls (rustls for client TLS, src/xmpp/transport/rustls.ts) into
# native/tls/sori_tls.node, when its sources are newer. Run by `npm install`
# (postinstall): without Rust's cargo it says so and sori runs client TLS on
# Node's (tls.engine "auto"). With --required (scripts/setup.sh, the tests)
# a missing cargo or a failed build is an error.
set -uo pipefail
cd "$(dirname "$0")/.."
out=native/tls/sori_tls.node
required=${1:-}
say() { echo "build-native: $*" >&2; }
fail() {
  if [ "$required" = --required ]; then say "ERROR: $*"; exit 1; fi
  say "$*; client TLS will run on Node's TLS, which holds 2-4 times the memory per idle session"
  exit 0
}

cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then cargo=$HOME/.cargo/bin/cargo; fi
# Built elsewhere (the Dockerfile's Rust stage): nothing to check it against.
if [ ! -d native/tls/src ]; then
  [ -f "$out" ] || fail "native/tls has neither sources nor a built addon"
  exit 0
fi
if [ -f "$out" ] && [ -z "$(find native/tls/Cargo.toml native/tls/Cargo.lock native/tls/build.rs native/tls/src -newer "$out" -print -quit)" ]; then
  exit 0
fi
[ -n "$cargo" ] || fail "Rust's cargo is not installed (install it with https://rustup.rs, Rust 1.75 or later), so native/tls is not built"
say "building native/tls (rustls, about a minute)"
if ! "$cargo" build --release --locked --manifest-path native/tls/Cargo.toml >&2; then
  fail "cargo build of native/tls failed (above)"
fi
lib=native/tls/target/release/libsori_tls.so
[ -f "$lib" ] || lib=native/tls/target/release/libsori_tls.dylib
cp "$lib" "$out.tmp" && mv "$out.tmp" "$out"
say "built $out"
