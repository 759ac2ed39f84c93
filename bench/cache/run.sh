#!/usr/bin/env bash
# bench/cache: redis-server (persistence off) and gantry cache side by side in one run,
# driven by redis-benchmark with -c 50 at -P 1 and -P 16. Each test runs against one
# server and then the other before the next test starts, so that load from elsewhere on
# the machine hits both alike. Prints ops/s and p99 per row and ends with lines
#   ratio ROW vs redis = X.XX      (X > 1: gantry better; ops/s gantry/redis, p99 redis/gantry)
#
# Environment: N1 (requests per test at -P 1, default 200000), N16 (at -P 16, default
# 1000000), TESTS (default set,get,incr,lpush,rpop,sadd,hset,zadd,mset),
# PROFILE=1 to take a 10 s CPU profile of gantry under -P 16 SET/GET load (written to
# $OUT/cpu.pprof with a top-20 summary), OUT (default a temporary directory),
# MEMKEYS (default 1000000; 0 skips the memory row): after the throughput rows, both
# servers are flushed and loaded with MEMKEYS keys of 16-byte values (`key:%012d`,
# through redis-cli --pipe); the row compares gantry's RSS, and its Go heap in use
# after a forced GC, with redis-server's used_memory (and RSS).
set -euo pipefail
cd "$(dirname "$0")/../.."

N1=${N1:-200000}
N16=${N16:-1000000}
MEMKEYS=${MEMKEYS:-1000000}
TESTS=${TESTS:-set,get,incr,lpush,rpop,sadd,hset,zadd,mset}
OUT=${OUT:-$(mktemp -d)}
LIMIT=180 # seconds any one redis-benchmark run may take

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
	echo "== apt-get install ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
GPORT=$(free_port)
APORT=$(free_port)

echo "== build gantry"
go build -o "$OUT/gantry" ./cmd/gantry

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
pids+=($!)
"$OUT/gantry" cache --addr "127.0.0.1:$GPORT" --admin "127.0.0.1:$APORT" --log-level warn >"$OUT/gantry.log" 2>&1 &
pids+=($!)
for port in "$RPORT" "$GPORT"; do
	for _ in $(seq 100); do
		redis-cli -p "$port" PING >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$port" PING >/dev/null
done
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on $RPORT, gantry cache on $GPORT (admin $APORT), $(nproc) cores shared with redis-benchmark"

# bench PORT TEST PIPELINE N prints "rps p99" for one test.
bench() {
	local line
	line=$(timeout "$LIMIT" redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -c 50 -n "$4" -P "$3" --csv 2>/dev/null | grep -v '^"test"' | head -1)
	# "SET","181818.19","0.141","0.032","0.135","0.215","0.303","1.103"
	echo "$line" | awk -F'","' '{gsub(/"/,"",$0); split($0,f,","); print f[2], f[7]}'
}

profile_pid=""
if [ "${PROFILE:-}" = 1 ]; then
	(curl -s -o "$OUT/cpu.pprof" "http://127.0.0.1:$APORT/debug/pprof/profile?seconds=10") &
	profile_pid=$!
	timeout 15 redis-benchmark -h 127.0.0.1 -p "$GPORT" -t set,get -c 50 -n 100000000 -P 16 -q >/dev/null 2>&1 &
	load_pid=$!
	wait "$profile_pid"
	kill "$load_pid" 2>/dev/null || true
	wait "$load_pid" 2>/dev/null || true
	echo "== profile: $OUT/cpu.pprof"
	go tool pprof -top -nodecount=20 "$OUT/gantry" "$OUT/cpu.pprof" 2>/dev/null | sed -n '1,28p'
fi

rows=()
printf '%-14s %14s %10s %14s %10s\n' row "redis ops/s" "p99 ms" "gantry ops/s" "p99 ms"
for P in 1 16; do
	n=$N1
	[ "$P" = 16 ] && n=$N16
	for t in ${TESTS//,/ }; do
		redis-cli -p "$RPORT" FLUSHALL >/dev/null
		redis-cli -p "$GPORT" FLUSHALL >/dev/null
		read -r rr rp <<<"$(bench "$RPORT" "$t" "$P" "$n")"
		read -r gr gp <<<"$(bench "$GPORT" "$t" "$P" "$n")"
		row="$(echo "$t" | tr a-z A-Z) -P$P"
		printf '%-14s %14s %10s %14s %10s\n' "$row" "$rr" "$rp" "$gr" "$gp"
		rows+=("$row|$rr|$rp|$gr|$gp")
	done
done

mem=""
if [ "$MEMKEYS" -gt 0 ]; then
	echo
	echo "== memory: $MEMKEYS keys of 16-byte values"
	awk -v n="$MEMKEYS" 'BEGIN { for (i = 0; i < n; i++) { k = sprintf("key:%012d", i); printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\nvvvvvvvvvvvvvvvv\r\n", length(k), k } }' >"$OUT/load.resp"
	rss() { echo $(($(awk '/^VmRSS/ {print $2}' "/proc/$1/status") * 1024)); }
	for port in "$RPORT" "$GPORT"; do
		redis-cli -p "$port" FLUSHALL >/dev/null
		timeout "$LIMIT" redis-cli -p "$port" --pipe <"$OUT/load.resp" >/dev/null
	done
	used=$(redis-cli -p "$RPORT" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
	# The heap profile with gc=1 forces a collection first; then the Go collector's
	# heap-in-use gauge is what the live keys hold.
	curl -s -o /dev/null "http://127.0.0.1:$APORT/debug/pprof/heap?gc=1"
	heap=$(curl -s "http://127.0.0.1:$APORT/metrics" | awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%d", $2}')
	grss=$(rss "${pids[1]}")
	printf '%-24s %14s %14s\n' "" redis gantry
	printf '%-24s %14s %14s\n' keys "$(redis-cli -p "$RPORT" DBSIZE)" "$(redis-cli -p "$GPORT" DBSIZE)"
	printf '%-24s %14s %14s\n' "used_memory / heap" "$used" "$heap"
	printf '%-24s %14s %14s\n' RSS "$(rss "${pids[0]}")" "$grss"
	mem="$used|$heap|$grss"
fi

echo
for r in "${rows[@]}"; do
	IFS='|' read -r row rr rp gr gp <<<"$r"
	awk -v row="$row" -v rr="$rr" -v gr="$gr" 'BEGIN { printf "ratio %s ops/s vs redis = %.2f\n", row, (rr > 0 ? gr / rr : 0) }'
done
for r in "${rows[@]}"; do
	IFS='|' read -r row rr rp gr gp <<<"$r"
	awk -v row="$row" -v rp="$rp" -v gp="$gp" 'BEGIN { printf "ratio %s p99 vs redis = %.2f\n", row, (gp > 0 ? rp / gp : 0) }'
done
if [ -n "$mem" ]; then
	IFS='|' read -r used heap grss <<<"$mem"
	# X > 1: gantry uses less. The target is gantry <= 1.2x redis, that is X >= 0.83.
	awk -v u="$used" -v g="$grss" 'BEGIN { printf "ratio MEMORY rss vs redis used_memory = %.2f\n", (g > 0 ? u / g : 0) }'
	awk -v u="$used" -v g="$heap" 'BEGIN { printf "ratio MEMORY heap vs redis used_memory = %.2f\n", (g > 0 ? u / g : 0) }'
fi
