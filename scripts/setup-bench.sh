#!/usr/bin/env bash
# Prerequisites for `npm run bench`: Prosody and ejabberd from Debian, taskset,
# openssl, jemalloc for the generator, and no Debian-managed instance of
# either holding the ports.
# Idempotent and fast when everything is already installed.
set -euo pipefail

missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
command -v ejabberdctl >/dev/null 2>&1 || missing+=(ejabberd)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The generator's workers run on jemalloc (bench/worker/pool.ts): cheaper TLS client handshakes.
compgen -G '/usr/lib/*-linux-gnu/libjemalloc.so.2' >/dev/null || missing+=(libjemalloc2)
if ((${#missing[@]})); then
  echo "setup-bench: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup-bench: need root to install ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages' postinst may start their own service (or fail to, without systemd); either is fine.
  apt-get install -y -qq prosody ejabberd util-linux openssl libjemalloc2 >/dev/null || apt-get install -y prosody ejabberd util-linux openssl libjemalloc2
fi

# Stop only the Debian service instances (system config), never benchmark or
# other sessions' instances, which run from their own temp config dirs.
for pid in $(pgrep -x lua5.4 2>/dev/null || true); do
  args=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
  case "$args" in
    *"/usr/bin/prosody"*"--config"*) ;;  # someone's own config: leave it
    *"/usr/bin/prosody"*) echo "setup-bench: stopping Debian's Prosody (pid $pid)"; kill "$pid" || true ;;
  esac
done
for pid in $(pgrep -x beam.smp 2>/dev/null || true); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'EJABBERD_CONFIG_PATH=/etc/ejabberd/ejabberd.yml'; then
    echo "setup-bench: stopping Debian's ejabberd (pid $pid)"
    kill "$pid" || true  # BEAM treats SIGTERM as init:stop()
  fi
done

# Scenario 5 (sori-cluster) runs two sori nodes on Redis and a one-node Cassandra (or DynamoDB Local).
here=$(dirname "$0")
bash "$here/setup-redis.sh"
bash "$here/setup-cassandra.sh"
# sori is measured as shipped: client TLS on rustls (native/tls).
bash "$here/build-native.sh" --required

# Enough file descriptors for 10,000 idle sessions (client and server side).
if [ "$(ulimit -Hn)" -lt 20000 ]; then
  echo "setup-bench: warning: hard open-file limit is $(ulimit -Hn); --idle must stay below it" >&2
fi
echo "setup-bench: prosody $(dpkg-query -W -f='${Version}' prosody 2>/dev/null), ejabberd $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null) ready"
