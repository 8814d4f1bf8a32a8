#!/usr/bin/env bash
# Prerequisites of conformance/federation.test.ts: Prosody and ejabberd from
# Debian (run as federation peers on 127.0.0.2 and 127.0.0.3), openssl.
# Idempotent: installs only what is missing. Services the packages enable are
# not needed (the tests start their own instances with their own configs).
set -euo pipefail
missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
[ -x /usr/sbin/ejabberdctl ] || missing+=(ejabberd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-federation: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then echo "setup-federation: ERROR: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages start system-wide instances on 0.0.0.0:5222/5269; the tests run their own.
  for svc in prosody ejabberd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; systemctl disable "$svc" >/dev/null 2>&1 || true; fi
    if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
  done
fi
exit 0
