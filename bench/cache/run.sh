#!/usr/bin/env bash
# bench/cache: redis-server (persistence off) and gantry cache side by side in one run,
# driven by redis-benchmark with -c 50 at -P 1 and -P 16. Each test runs against one
# server and then the other before the next test starts, so that load from elsewhere on
# the machine hits both alike; with ROUNDS > 1 the order turns each round. Prints ops/s, p99 and the server's CPU time per request
# (from /proc/PID/stat) per row and ends with lines
#   ratio ROW ops/s|p99|cpu/op vs redis = X.XX
# (X > 1: gantry better; ops/s gantry/redis, p99 and cpu/op redis/gantry)
#
# Environment: N1 (requests per test at -P 1, default 200000), N16 (at -P 16, default
# 1000000), TESTS (default set,get,incr,lpush,rpop,sadd,hset,zadd,mset), PIPES (the
# pipeline depths, default "1 16"), ROUNDS (default 1: with more, every row is run
# ROUNDS times, interleaved, and the table and ratios show the medians),
# PROFILE=1 to take a 10 s CPU profile of gantry under -P $PROFILEP (default 16) SET/GET load (written to
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
PIPES=${PIPES:-1 16}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-$(mktemp -d)}
LIMIT=180 # seconds any one redis-benchmark run may take

. bench/lib.sh
need redis-server=redis-server redis-benchmark=redis-tools

RPORT=$(free_port)
GPORT=$(free_port)
APORT=$(free_port)

echo "== build gantry"
go build -o "$OUT/gantry" ./cmd/gantry

redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
pids+=($!)
"$OUT/gantry" cache --addr "127.0.0.1:$GPORT" --admin "127.0.0.1:$APORT" --log-level warn >"$OUT/gantry.log" 2>&1 &
pids+=($!)
wait_redis "$RPORT" "$GPORT"
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
	timeout 15 redis-benchmark -h 127.0.0.1 -p "$GPORT" -t set,get -c 50 -n 100000000 -P "${PROFILEP:-16}" -q >/dev/null 2>&1 &
	load_pid=$!
	wait "$profile_pid"
	kill "$load_pid" 2>/dev/null || true
	wait "$load_pid" 2>/dev/null || true
	echo "== profile: $OUT/cpu.pprof"
	go tool pprof -top -nodecount=20 "$OUT/gantry" "$OUT/cpu.pprof" 2>/dev/null | sed -n '1,28p'
fi

# cpu PID prints the process's CPU time (user + system) in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
# run_one PORT PID TEST PIPELINE N prints "rps p99 cpu" where cpu is the server's CPU
# time per request in microseconds: on a shared machine it moves less than ops/s.
run_one() {
	local c0 c1 res
	c0=$(cpu "$2")
	res=$(bench "$1" "$3" "$4" "$5")
	c1=$(cpu "$2")
	echo "$res $(awk -v a="$c0" -v b="$c1" -v n="$5" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t / n * 1e6 }')"
}
# median of the numbers given
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

declare -A res
order=()
for round in $(seq "$ROUNDS"); do
	for P in $PIPES; do
		n=$N1
		[ "$P" = 16 ] && n=$N16
		for t in ${TESTS//,/ }; do
			redis-cli -p "$RPORT" FLUSHALL >/dev/null
			redis-cli -p "$GPORT" FLUSHALL >/dev/null
			row="$(echo "$t" | tr a-z A-Z) -P$P"
			[ "$round" = 1 ] && order+=("$row")
			# Redis first in odd rounds, gantry first in even ones: neither always runs
			# second, after the other's run and a FLUSHALL's aftermath.
			if ((round % 2)); then
				res["$row|redis"]+=" $(run_one "$RPORT" "${pids[0]}" "$t" "$P" "$n")"
				res["$row|gantry"]+=" $(run_one "$GPORT" "${pids[1]}" "$t" "$P" "$n")"
			else
				res["$row|gantry"]+=" $(run_one "$GPORT" "${pids[1]}" "$t" "$P" "$n")"
				res["$row|redis"]+=" $(run_one "$RPORT" "${pids[0]}" "$t" "$P" "$n")"
			fi
			echo "round $round: $row done" >&2
		done
	done
done

rows=()
printf '%-14s %12s %8s %8s %12s %8s %8s\n' row "redis ops/s" "p99 ms" "cpu us" "gantry ops/s" "p99 ms" "cpu us"
for row in "${order[@]}"; do
	line="$row"
	for who in redis gantry; do
		read -ra v <<<"${res["$row|$who"]}"
		ops=() p99=() cpus=()
		for ((i = 0; i < ${#v[@]}; i += 3)); do
			ops+=("${v[i]}") p99+=("${v[i + 1]}") cpus+=("${v[i + 2]}")
		done
		line="$line|$(median "${ops[@]}")|$(median "${p99[@]}")|$(median "${cpus[@]}")"
	done
	IFS='|' read -r _ rr rp rc gr gp gc <<<"$line"
	printf '%-14s %12s %8s %8s %12s %8s %8s\n' "$row" "$rr" "$rp" "$rc" "$gr" "$gp" "$gc"
	rows+=("$line")
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
	IFS='|' read -r row rr rp rc gr gp gc <<<"$r"
	awk -v row="$row" -v rr="$rr" -v gr="$gr" 'BEGIN { printf "ratio %s ops/s vs redis = %.2f\n", row, (rr > 0 ? gr / rr : 0) }'
done
for r in "${rows[@]}"; do
	IFS='|' read -r row rr rp rc gr gp gc <<<"$r"
	awk -v row="$row" -v rp="$rp" -v gp="$gp" 'BEGIN { printf "ratio %s p99 vs redis = %.2f\n", row, (gp > 0 ? rp / gp : 0) }'
done
for r in "${rows[@]}"; do
	IFS='|' read -r row rr rp rc gr gp gc <<<"$r"
	awk -v row="$row" -v rc="$rc" -v gc="$gc" 'BEGIN { printf "ratio %s cpu/op vs redis = %.2f\n", row, (gc > 0 ? rc / gc : 0) }'
done
if [ -n "$mem" ]; then
	IFS='|' read -r used heap grss <<<"$mem"
	# X > 1: gantry uses less. The target is gantry <= 1.2x redis, that is X >= 0.83.
	awk -v u="$used" -v g="$grss" 'BEGIN { printf "ratio MEMORY rss vs redis used_memory = %.2f\n", (g > 0 ? u / g : 0) }'
	awk -v u="$used" -v g="$heap" 'BEGIN { printf "ratio MEMORY heap vs redis used_memory = %.2f\n", (g > 0 ? u / g : 0) }'
fi
