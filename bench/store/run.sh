#!/usr/bin/env bash
# bench/store: the storage workloads through gantry's store, bbolt and SQLite (WAL mode,
# synchronous=FULL), fsync per commit, in one run. Ends with `ratio ROW vs ANCHOR = X.XX`
# lines (X > 1: gantry is faster). Everything it needs is a Go module of this repository
# (SQLite comes with mattn/go-sqlite3, which needs a C compiler: installed if missing).
#
#   bench/store/run.sh                 # 1M keys, 3 s per timed workload
#   KEYS=200000 DURATION=2s bench/store/run.sh
#   WRITES_ONLY=1 bench/store/run.sh   # only the insert and load rows (about 3 minutes)
#   ENGINES=gantry,sqlite bench/store/run.sh
#
# Run time is bounded: each bulk load in transactions of 1000 stops after LOAD_LIMIT
# (default 45 s), each timed workload runs DURATION, and each engine's sorted bulk load
# (load-sorted, one call) took 1-30 s for 1M keys; about 8 minutes in all on a shared
# 2-core VM. The whole run is killed after 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v gcc >/dev/null; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/store-bench" ./bench/store
timeout 10m "$dir/store-bench" -dir "$dir" -keys "${KEYS:-1000000}" -duration "${DURATION:-3s}" \
	-load-limit "${LOAD_LIMIT:-45s}" -writers "${WRITERS:-8}" -engines "${ENGINES:-gantry,bbolt,sqlite}" \
	${WRITES_ONLY:+-writes-only}
