#!/usr/bin/env bash
# npm run bench [-- flags]: install prerequisites, raise the fd limit, run the
# benchmark. Flags go to bench/run.ts, e.g. --quick, --servers prosody,ejabberd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-bench.sh
ulimit -n "$(ulimit -Hn)"
exec node --import tsx bench/run.ts "$@"
