#!/usr/bin/env bash
# bench/cache/passes.sh: what each pass of gantry cache's event loop meets under
# redis-benchmark -P 1. Builds gantry with -tags loopstats (cache/loopstats_on_linux.go:
# per pass, the sockets epoll_wait returned, the pass's duration, and whether the loop's
# thread was switched out meanwhile, from getrusage(RUSAGE_THREAD); and how long each
# 5 ms yield kept the loop away), runs one redis-benchmark test against it, stops it and
# prints the loop's figures. Durations are log2 buckets of microseconds ("<64:12" is 12
# passes of 32-63 us).
#
# Environment: TEST (default get), N (requests, default 200000), P (pipeline, default 1).
# The run is bounded to 120 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
TEST=${TEST:-get}
N=${N:-200000}
P=${P:-1}

. bench/lib.sh
need redis-benchmark=redis-tools
with_tmp

go build -tags loopstats -o "$tmp/gantry" ./cmd/gantry
port=$(free_port)
"$tmp/gantry" cache --addr "127.0.0.1:$port" --admin "" --log-level warn 2>"$tmp/stats" &
gpid=$!
pids+=("$gpid")
wait_redis "$port"
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -t "$TEST" -c 50 -n "$N" -P "$P" --csv | grep -v '^"test"' || true
kill "$gpid"
wait "$gpid" || true
cat "$tmp/stats"
