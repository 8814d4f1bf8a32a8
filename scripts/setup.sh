#!/usr/bin/env bash
# Installs everything `npm test` needs, from the package registries only
# (Debian, npm, Maven Central). Idempotent, quiet, and fast when all is there.
#   - Debian packages: python3-slixmpp (conformance/slixmpp), python3-nbxmpp
#     (conformance/nbxmpp; it pulls in python3-gi, gir1.2-soup-3.0 and glib-networking,
#     GLib's TLS), redis-server, openssl,
#     a JDK and Maven (conformance/smack), coturn (conformance/external-services),
#     python3-aioxmpp and python3-pytest (conformance/aioxmpp), go-sendxmpp and
#     sendxmpp (conformance/sendxmpp.test.ts);
#   - node_modules via `npm ci` when missing or older than package-lock.json;
#   - native/tls (rustls for client TLS) built with Rust's cargo, from crates.io;
#   - Smack's integration test framework into .cache/smack/lib (git-ignored);
#   - aioxmpp's end-to-end tests from Debian's source tarball into .cache/aioxmpp;
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
  [/usr/lib/python3/dist-packages/aioxmpp/e2etest/__init__.py]=python3-aioxmpp
  [/usr/lib/python3/dist-packages/pytest/__init__.py]=python3-pytest
  [redis-server]=redis-server
  [openssl]=openssl
  [curl]=curl
  [java]=openjdk-17-jdk-headless
  [javac]=openjdk-17-jdk-headless
  [keytool]=openjdk-17-jdk-headless
  [mvn]=maven
  [turnserver]=coturn
  [turnutils_uclient]=coturn
  [/usr/bin/go-sendxmpp]=go-sendxmpp
  [/usr/bin/sendxmpp]=sendxmpp
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

# --- native/tls: rustls for client TLS (crates.io) --------------------------
# npm ci's postinstall builds it where cargo is; the tests need it, so here it must be.
bash scripts/build-native.sh --required || die "native/tls could not be built (above)"

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

# --- aioxmpp's end-to-end tests (conformance/aioxmpp) ----------------------
# Debian's python3-aioxmpp ships the library and its e2etest pytest plugin but not
# the tests, which are in the source package's orig tarball. It comes from the
# Debian mirror apt already uses (Debian's pool), checked against the sha256 of
# the .dsc of python-aioxmpp 0.13.3-1. Only tests/ is unpacked: the tarball's own
# aioxmpp/ beside it would be imported instead of Debian's by `python3 -m pytest`
# run there (conformance/aioxmpp/sori_provision.py checks).
aioxmpp_version=0.13.3
aioxmpp_orig=python-aioxmpp_${aioxmpp_version}.orig.tar.gz
aioxmpp_sha256=b8f06c21a8429286bf2ef26e4617a2e772df74566a0aa3d4c9501f8f50b6735a
aioxmpp=$root/.cache/aioxmpp
if [ "$(cat "$aioxmpp/$aioxmpp_version/.sha256" 2>/dev/null)" != "$aioxmpp_sha256" ] || [ ! -f "$aioxmpp/$aioxmpp_version/tests/__init__.py" ]; then
  mkdir -p "$aioxmpp"
  if ! echo "$aioxmpp_sha256  $aioxmpp/$aioxmpp_orig" | sha256sum -c --status 2>/dev/null; then
    debian_mirror() {
      apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Created-By: Packages' 'Origin: Debian' 'Component: main' 2>/dev/null \
        | awk '$2 !~ /-/ { print $1; exit }'
    }
    mirror=$(debian_mirror)
    if [ -z "$mirror" ] && [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null || die "apt-get update failed"
      mirror=$(debian_mirror)
    fi
    [ -n "$mirror" ] || die "no Debian mirror in apt's sources (apt-get indextargets); put $aioxmpp_orig (sha256 $aioxmpp_sha256) into $aioxmpp by hand"
    url="${mirror%/}/pool/main/p/python-aioxmpp/$aioxmpp_orig"
    say "fetching $url into $aioxmpp"
    curl -fsSL --retry 2 -o "$aioxmpp/$aioxmpp_orig.tmp" "$url" || die "could not download $url"
    echo "$aioxmpp_sha256  $aioxmpp/$aioxmpp_orig.tmp" | sha256sum -c --status \
      || { rm -f "$aioxmpp/$aioxmpp_orig.tmp"; die "$url does not have the sha256 $aioxmpp_sha256"; }
    mv "$aioxmpp/$aioxmpp_orig.tmp" "$aioxmpp/$aioxmpp_orig"
  fi
  rm -rf "$aioxmpp/$aioxmpp_version.tmp" && mkdir -p "$aioxmpp/$aioxmpp_version.tmp"
  tar xzf "$aioxmpp/$aioxmpp_orig" -C "$aioxmpp/$aioxmpp_version.tmp" tests || die "could not unpack tests/ from $aioxmpp/$aioxmpp_orig"
  echo "$aioxmpp_sha256" > "$aioxmpp/$aioxmpp_version.tmp/.sha256"
  rm -rf "$aioxmpp/$aioxmpp_version" && mv "$aioxmpp/$aioxmpp_version.tmp" "$aioxmpp/$aioxmpp_version"
fi

# --- the other topics' prerequisites ---------------------------------------
for s in scripts/setup-*.sh; do
  [ -e "$s" ] || continue
  bash "$s" || die "$s failed"
done
