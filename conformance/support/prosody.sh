#!/usr/bin/env bash
# Starts Debian's Prosody as a reference server for validating the conformance
# harnesses (never used by `npm test`). It binds ONLY to ${PROSODY_ADDR:-127.0.0.9}
# so it cannot collide with sori (127.0.0.1) or a benchmark Prosody.
#
#   conformance/support/prosody.sh start DIR   # writes DIR/prosody.cfg.lua, DIR/localhost.{crt,key}, starts, waits for 5222
#   conformance/support/prosody.sh stop DIR
#   conformance/support/prosody.sh adduser DIR USER PASSWORD
#
# Domain: localhost; admin: admin@localhost (XEP-0133 via mod_admin_adhoc);
# IBR on and unthrottled; MAM, carbons, HTTP upload (upload.localhost) enabled.
set -euo pipefail
cmd=${1:?usage: prosody.sh start|stop|adduser DIR ...}
dir=${2:?usage: prosody.sh start|stop|adduser DIR ...}
addr=${PROSODY_ADDR:-127.0.0.9}
command -v prosody >/dev/null || { echo "prosody is missing: apt-get install -y prosody" >&2; exit 1; }

case "$cmd" in
start)
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/localhost.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
      -addext 'subjectAltName=DNS:localhost,DNS:upload.localhost' \
      -keyout "$dir/localhost.key" -out "$dir/localhost.crt" 2>/dev/null
  fi
  cat >"$dir/prosody.cfg.lua" <<CFG
daemonize = false
run_as_root = true
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
log = { info = "$dir/prosody.log", error = "$dir/prosody.err" }
interfaces = { "$addr" }
local_interfaces = { "$addr" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { 5280 }
http_interfaces = { "$addr" }
https_ports = { }
admins = { "admin@localhost" }
allow_registration = true
min_seconds_between_registrations = 0
registration_throttle_max = 0
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
archive_expires_after = "1d"
default_archive_policy = true
consider_websocket_secure = true
limits = { c2s = { rate = "100mb/s" } }
certificates = "$dir"
ssl = { certificate = "$dir/localhost.crt", key = "$dir/localhost.key" }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "carbons"; "pep"; "private"; "blocklist";
  "vcard4"; "vcard_legacy"; "version"; "uptime"; "time"; "ping"; "register";
  "admin_adhoc"; "mam"; "csi_simple"; "smacks"; "bookmarks"; "offline";
  "http"; "websocket"; "lastactivity";
}
modules_disabled = { "s2s" }
VirtualHost "localhost"
Component "upload.localhost" "http_file_share"
  http_file_share_size_limit = 1048576
Component "conference.localhost" "muc"
  modules_enabled = { "muc_mam" }
CFG
  if [ -f "$dir/prosody.pid" ] && kill -0 "$(cat "$dir/prosody.pid")" 2>/dev/null; then exit 0; fi
  if (exec 3<>"/dev/tcp/$addr/5222") 2>/dev/null; then
    echo "something already listens on $addr:5222 (another prosody.sh run?); stop it first" >&2
    exit 1
  fi
  setsid prosody --config "$dir/prosody.cfg.lua" >>"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/launcher.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$addr/5222") 2>/dev/null; then exit 0; fi
    sleep 0.1
  done
  echo "prosody did not listen on $addr:5222; see $dir/prosody.log $dir/stdout.log" >&2
  tail -20 "$dir/stdout.log" "$dir/prosody.err" >&2 2>/dev/null || true
  exit 1
  ;;
stop)
  for f in "$dir/prosody.pid" "$dir/launcher.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  rm -f "$dir/prosody.pid" "$dir/launcher.pid"
  ;;
adduser)
  user=${3:?user}; pw=${4:?password}
  printf '%s\n%s\n' "$pw" "$pw" | prosodyctl --config "$dir/prosody.cfg.lua" adduser "$user@localhost" >/dev/null
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
