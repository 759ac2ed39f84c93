#!/usr/bin/env bash
# bench/cache/pair.sh BIN...: redis-server and each gantry binary given (say the
# committed build and a changed one) side by side in one run, for before/after
# comparisons on a busy machine. Every test runs against every server in turn, the
# order rotated each round, so that adjacent runs share the machine's load; rows are
# medians over ROUNDS; then each binary is compared with Redis, and each after the first
# with the first, run by run (ratios of adjacent runs, then their median and how many
# runs it won).
# Per run: ops/s, p99 ms, server CPU us per request (user + system, /proc/PID/stat),
# runqueue wait us per request (all threads, /proc/PID/task/*/schedstat), context
# switches per 1,000 requests (all threads, /proc/PID/task/*/status), and the client's
# (redis-benchmark's) CPU us per request and context switches per 1,000 requests
# (GNU time): at -P 1 on two cores redis-benchmark's one thread is what sets the pace.
#
#   go build -o /tmp/old ./cmd/gantry   # at the old commit; then at the new one:
#   go build -o /tmp/new ./cmd/gantry
#   bench/cache/pair.sh /tmp/old /tmp/new
#   bench/cache/pair.sh redis /tmp/new    # "redis": a second redis-server, the control
#
# The control answers how far two servers that are the same apart from their port drift
# apart here: Redis against itself is the spread any figure below must clear to mean more
# than the machine's noise.
#
# Environment: N (requests per run, default 50000), P (pipeline, default 1), ROUNDS
# (default 3), TESTS (default set,get,incr,lpush,rpop,sadd,hset,zadd,mset), RUNS (a file
# to keep every run's figures in: TEST SERVER ROUND ops p99 cpu wait cs ccpu ccs). Each
# redis-benchmark run is bounded to 120 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 GANTRY_BINARY|redis..." >&2; exit 2; }
N=${N:-50000}
P=${P:-1}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-set,get,incr,lpush,rpop,sadd,hset,zadd,mset}

. bench/lib.sh
need redis-server=redis-server redis-benchmark=redis-tools /usr/bin/time=time
with_tmp

names=(redis)
ports=()
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
ports+=("$port")
for b in "$@"; do
	port=$(free_port)
	if [ "$b" = redis ]; then
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis${#ports[@]}.log" 2>&1 &
		names+=("redis${#ports[@]}")
	else
		"$b" cache --addr "127.0.0.1:$port" --admin "" --log-level warn >"$tmp/gantry${#ports[@]}.log" 2>&1 &
		names+=("$(basename "$b")")
	fi
	pids+=($!)
	ports+=("$port")
done
wait_redis "${ports[@]}"
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); servers: ${names[*]}"

TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# (%.0f, not %d: the sums pass 2^31, where some awks' %d stops)
wait_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%.0f", s}'; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {printf "%.0f", s}'; }

k=${#ports[@]}
for round in $(seq "$ROUNDS"); do
	for t in ${TESTS//,/ }; do
		for port in "${ports[@]}"; do redis-cli -p "$port" FLUSHALL >/dev/null; done
		for j in $(seq 0 $((k - 1))); do
			i=$(((j + round) % k))
			pid=${pids[$i]}
			c0=$(cpu "$pid") w0=$(wait_ns "$pid") s0=$(switches "$pid")
			line=$(/usr/bin/time -f '%U %S %c %w' -o "$tmp/client" timeout 120 redis-benchmark -h 127.0.0.1 -p "${ports[$i]}" -t "$t" -c 50 -n "$N" -P "$P" --csv 2>/dev/null | grep -v '^"test"' | head -1 || true)
			c1=$(cpu "$pid") w1=$(wait_ns "$pid") s1=$(switches "$pid")
			# (time's last line: user s, system s, involuntary and voluntary switches)
			client=$(tail -1 "$tmp/client")
			echo "$line" | awk -F, -v t="$t" -v i="$i" -v r="$round" -v a="$c0" -v b="$c1" -v w0="$w0" -v w1="$w1" -v s0="$s0" -v s1="$s1" -v n="$N" -v tck="$TCK" -v cl="$client" \
				'{gsub(/"/, ""); split(cl, k, " "); printf "%s %s %s %s %s %.2f %.2f %.1f %.2f %.1f\n", t, i, r, $2, $7, (b - a) / tck / n * 1e6, (w1 - w0) / 1000 / n, (s1 - s0) / n * 1000, (k[1] + k[2]) / n * 1e6, (k[3] + k[4]) / n * 1000}' >>"$tmp/runs"
		done
		echo "round $round: $t done, load $(cut -d' ' -f1 /proc/loadavg)" >&2
	done
done

if [ -n "${RUNS:-}" ]; then cp "$tmp/runs" "$RUNS"; fi
python3 - "$tmp/runs" "${names[@]}" <<'PY'
import statistics as st, sys
runs, names = sys.argv[1], sys.argv[2:]
order = []
by = {}  # (test, server) -> {round: (ops, p99, cpu, wait, cs, client cpu, client cs)}
for line in open(runs):
    t, i, r, *v = line.split()
    if t not in order:
        order.append(t)
    by.setdefault((t, int(i)), {})[int(r)] = tuple(map(float, v))
cols = ("ops/s", "p99 ms", "cpu us", "wait us", "cs/1k", "client cpu us", "client cs/1k")
nc = len(cols)
print(f"\nmedians of the rounds: {', '.join(cols)} per request")
print(f"{'row':6}" + "".join(f" | {n:>62}" for n in names))
for t in order:
    cells = []
    for i in range(len(names)):
        rs = by.get((t, i), {}).values()
        cells.append(" ".join(f"{st.median(x[c] for x in rs):8.2f}" for c in range(nc)) if rs else "")
    print(f"{t.upper():6}" + "".join(f" | {c:>62}" for c in cells))
# Run by run, each server against another: ops/s theirs/base, the rest base/theirs (> 1:
# better), ratios of the runs of the same round.
def compare(base, b):
    print(f"\n{names[b]} against {names[base]}, run by run (> 1: {names[b]} better): median ratio, runs won")
    pooled = [[] for _ in range(nc)]
    for t in order:
        old, new = by.get((t, base), {}), by.get((t, b), {})
        rs = [(old[r], new[r]) for r in old if r in new and old[r][0] > 0 and new[r][0] > 0]
        ratios = [[n[0] / o[0] for o, n in rs]] + [[o[c] / n[c] for o, n in rs if n[c] > 0] for c in range(1, nc)]
        for c in range(nc):
            pooled[c] += ratios[c]
        print(f"{t.upper():6}" + "".join(f" {cols[c]} {st.median(ratios[c]):.2f} ({sum(x > 1 for x in ratios[c])}/{len(ratios[c])})" for c in range(nc) if ratios[c]))
    print("all   " + "".join(f" {cols[c]} {st.median(pooled[c]):.2f} ({sum(x > 1 for x in pooled[c])}/{len(pooled[c])})" for c in range(nc) if pooled[c]))
# Each gantry binary against Redis (the target), then each after the first against the first.
for b in range(1, len(names)):
    compare(0, b)
for b in range(2, len(names)):
    compare(1, b)
PY
