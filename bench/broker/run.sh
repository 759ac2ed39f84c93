#!/usr/bin/env bash
# Broker benchmark: gantry broker driven by franz-go, beside the disk's own limits and
# NATS JetStream (file storage, nats.go), in one run on the same machine.
#
#   produce     1 KiB records, linger 5 ms, batches up to 1 MiB, no compression, 4 partitions:
#               acks=all (answered after fsync) and acks=leader (answered once written)
#   consume     the acks=all topic read back from the start
#   e2e         10,000 records/s for 10 s, acks=all, no linger: p50/p99 from Produce() to the
#               consumer (run first, on the idle broker); then acks=leader, without fsync
#   disk        sequential 1 MiB writes with an fsync each, and 4 KiB write+fsync latency
#   jetstream   row (a): default server (acks before fsync), async publish
#               row (b): sync_interval: always (acks after fsync), async publish
#
# Ends with `ratio ROW vs ANCHOR = X.XX` lines; X > 1 means gantry is better.
#
#   bench/broker/run.sh                 # about a minute
#   N=500000 bench/broker/run.sh        # more records per produce row
#   BENCH_DIR=/mnt/disk bench/broker/run.sh   # where data goes (default under /var/tmp)
#   NATS_SERVER=/path/to/nats-server bench/broker/run.sh   # skip building nats-server
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200000}
NSYNC=${NSYNC:-20000}

base=${BENCH_DIR:-/var/tmp}
tmp=$(mktemp -d -p "$base" gantry-broker-bench.XXXXXX)
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() { stop_all; rm -rf "$tmp"; }
trap cleanup EXIT

wait_port() { # host:port
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2; exit 1
}

echo "== build"
go build -o "$tmp/gantry" ./cmd/gantry
go build -o "$tmp/load" ./bench/broker/load
NATS=${NATS_SERVER:-}
if [ -z "$NATS" ]; then
	# A current nats-server (>= 2.10 has sync_interval); Debian's 2.9 lacks it.
	# Built from the Go module into a private GOBIN; go.mod is not touched.
	(cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS= GO111MODULE=on timeout 600 go install github.com/nats-io/nats-server/v2@v2.15.2)
	NATS="$tmp/bin/nats-server"
fi
"$NATS" --version
load() { timeout 300 "$tmp/load" "$@" | tee -a "$tmp/results"; }

echo "== disk ($tmp)"
load disk -dir "$tmp"

echo "== gantry broker"
KAFKA=127.0.0.1:19192
"$tmp/gantry" broker --addr $KAFKA --admin 127.0.0.1:19193 --dir "$tmp/broker" --log-level warn & pids+=($!)
wait_port $KAFKA
# Latency first, on an idle broker: after the throughput rows, the flush of hundreds of
# MB written with acks=leader would sit in front of e2e's fsyncs (ext4 commits them together).
load e2e -brokers $KAFKA -topic e2e -rate 10000 -duration 10s -acks all
load e2e -brokers $KAFKA -topic e2e-leader -rate 10000 -duration 10s -acks leader
load produce -brokers $KAFKA -topic all -n "$N" -acks all
load produce -brokers $KAFKA -topic leader -n "$N" -acks leader
load consume -brokers $KAFKA -topic all -n "$N"
stop_all

echo "== NATS JetStream, row (a): default (acknowledged before fsync)"
NATSADDR=127.0.0.1:19222
"$NATS" -a 127.0.0.1 -p 19222 -js -sd "$tmp/nats-a" -l "$tmp/nats-a.log" & pids+=($!)
wait_port $NATSADDR
load jetstream -url nats://$NATSADDR -topic benchA -n "$N"
stop_all

echo "== NATS JetStream, row (b): sync_interval always (acknowledged after fsync)"
cat >"$tmp/nats-b.conf" <<CONF
listen: $NATSADDR
jetstream { store_dir: "$tmp/nats-b", sync_interval: always }
CONF
"$NATS" -c "$tmp/nats-b.conf" -l "$tmp/nats-b.log" & pids+=($!)
wait_port $NATSADDR
timeout 300 "$tmp/load" jetstream -url nats://$NATSADDR -topic benchB -n "$NSYNC" | sed 's/^jetstream-async/jetstream-always-async/' | tee -a "$tmp/results"
stop_all

echo "== ratios"
field() { awk -v row="$1" -v col="$2" '$1 == row { print $col }' "$tmp/results"; }
dur_ms() { # Go duration -> milliseconds
	awk -v d="$1" 'BEGIN {
		if (d ~ /ms$/) { sub(/ms$/, "", d); print d }
		else if (d ~ /µs$/) { sub(/µs$/, "", d); print d / 1000 }
		else if (d ~ /s$/) { sub(/s$/, "", d); print d * 1000 }
		else print d }'
}
all_rps=$(field produce-acks-all 2); all_mbs=$(field produce-acks-all 4)
leader_rps=$(field produce-acks-leader 2)
js_a=$(field jetstream-async 2); js_b=$(field jetstream-always-async 2)
disk_mbs=$(field disk-seq-write 2)
p99=$(dur_ms "$(field e2e-acks-all 5)")
awk -v g="$leader_rps" -v a="$js_a" 'BEGIN { printf "ratio produce-acks-leader vs jetstream-default-async = %.2f\n", g / a }'
awk -v g="$all_rps" -v a="$js_b" 'BEGIN { printf "ratio produce-acks-all vs jetstream-sync-always-async = %.2f\n", g / a }'
awk -v g="$all_mbs" -v a="$disk_mbs" 'BEGIN { printf "ratio produce-acks-all-MBps vs disk-seq-write-MBps = %.2f\n", g / a }'
awk -v p="$p99" 'BEGIN { printf "ratio e2e-p99 vs target-10ms = %.2f\n", 10 / p }'
