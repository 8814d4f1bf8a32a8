#!/usr/bin/env bash
# Installs everything `npm test` needs, from the package registries only
# (Debian, npm, Maven Central). Idempotent, quiet, and fast when all is there.
#   - Debian packages: python3-slixmpp (conformance/slixmpp), python3-nbxmpp
#     (conformance/nbxmpp; it pulls in python3-gi, gir1.2-soup-3.0 and glib-networking,
#     GLib's TLS), redis-server, openssl,
#     a JDK and Maven (conformance/smack), coturn (conformance/external-services);
#   - node_modules via `npm ci` when missing or older than package-lock.json;
#   - Smack's integration test framework into .cache/smack/lib (git-ignored);
#   - then every other scripts/setup-<topic>.sh.
# Fails loudly, saying what to do, when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { echo "setup: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- Debian packages -------------------------------------------------------
# command or file that proves the package is there -> package name
declare -A need=(
  [/usr/lib/python3/dist-packages/slixmpp/__init__.py]=python3-slixmpp
  [/usr/lib/python3/dist-packages/nbxmpp/__init__.py]=python3-nbxmpp
  [redis-server]=redis-server
  [openssl]=openssl
  [java]=openjdk-17-jdk-headless
  [javac]=openjdk-17-jdk-headless
  [keytool]=openjdk-17-jdk-headless
  [mvn]=maven
  [turnserver]=coturn
  [turnutils_uclient]=coturn
)
missing=()
for probe in "${!need[@]}"; do
  if [[ $probe == /* ]]; then [ -e "$probe" ] && continue; else command -v "$probe" >/dev/null && continue; fi
  missing+=("${need[$probe]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when an install is needed (or the lists are absent).
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# --- npm -------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  # The lock serialises npm with other engineers' installs on a shared work tree.
  flock /tmp/npm.lock npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi

# --- Smack's integration test framework (Maven Central) --------------------
smack=$root/.cache/smack
if [ ! -f "$smack/lib/.stamp" ] || [ conformance/smack/pom.xml -nt "$smack/lib/.stamp" ]; then
  say "fetching Smack's integration test framework into $smack/lib"
  mkdir -p "$smack"
  rm -rf "$smack/lib.tmp"
  mvn -q -B -f conformance/smack/pom.xml dependency:copy-dependencies -DoutputDirectory="$smack/lib.tmp" >"$smack.mvn.log" 2>&1 \
    || { tail -20 "$smack.mvn.log" >&2; die "mvn could not fetch Smack (see $smack.mvn.log)"; }
  rm -rf "$smack/lib" && mv "$smack/lib.tmp" "$smack/lib" && touch "$smack/lib/.stamp"
  rm -f "$smack.mvn.log"
fi
# The harness's own classes (the TSV report, the launcher that registers OMEMO).
harness_srcs=(conformance/smack/src/sori/*.java)
stale=0
for src in "${harness_srcs[@]}"; do
  class="$smack/classes/sori/$(basename "${src%.java}").class"
  if [ ! -f "$class" ] || [ "$src" -nt "$class" ] || [ "$smack/lib/.stamp" -nt "$class" ]; then stale=1; fi
done
if [ "$stale" = 1 ]; then
  mkdir -p "$smack/classes"
  javac -nowarn -d "$smack/classes" -cp "$smack/lib/*" "${harness_srcs[@]}" || die "javac could not compile ${harness_srcs[*]}"
fi

# --- the other topics' prerequisites ---------------------------------------
for s in scripts/setup-*.sh; do
  [ -e "$s" ] || continue
  bash "$s" || die "$s failed"
done
