#!/usr/bin/env bash
# Proxy benchmark: the same two Go backends behind gantry, nginx and HAProxy, each driven
# by wrk (HTTP/1.1 keep-alive, 64 connections, 13-byte and 4 KiB bodies) in one run.
# Prints req/s, p50 and p99 per row, then `ratio ROW vs ANCHOR = X.XX` (gantry's req/s over
# the anchor's; > 1 means gantry is faster).
#
#   bench/proxy/run.sh            # 10 s per row (about 2 minutes in all)
#   DURATION=5s bench/proxy/run.sh
#   PROFILE=1 bench/proxy/run.sh  # also takes a 10 s CPU profile of gantry under load
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

B1=127.0.0.1:19001 B2=127.0.0.1:19002
GANTRY=127.0.0.1:18080 GADMIN=127.0.0.1:18081 NGINX=127.0.0.1:18082 HAPROXY=127.0.0.1:18083

go build -o "$tmp/backend" ./bench/proxy/backend
go build -o "$tmp/gantry" ./cmd/gantry
"$tmp/backend" -addr $B1 & pids+=($!)
"$tmp/backend" -addr $B2 & pids+=($!)
"$tmp/gantry" proxy --addr $GANTRY --admin $GADMIN --to http://$B1 --to http://$B2 --log-level warn & pids+=($!)

cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backends { server $B1; server $B2; keepalive 64; }
	server {
		listen $NGINX;
		location / {
			proxy_pass http://backends;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CONF
nginx -c "$tmp/nginx.conf" -g 'daemon off;' & pids+=($!)

cat >"$tmp/haproxy.cfg" <<CONF
global
	maxconn 4096
	nbthread 2
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	http-reuse always
frontend fe
	bind $HAPROXY
	default_backend be
backend be
	balance roundrobin
	server b1 $B1
	server b2 $B2
CONF
haproxy -f "$tmp/haproxy.cfg" -db & pids+=($!)

# Wait until every listener answers.
for a in $B1 $B2 $GANTRY $NGINX $HAPROXY; do
	for i in $(seq 100); do
		curl -fsS -o /dev/null "http://$a/small" 2>/dev/null && break
		sleep 0.1
	done
done

# ms converts a wrk latency ("812.00us", "1.23ms", "1.01s") to milliseconds.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

declare -A RPS P50 P99
bench() { # name addr path
	wrk -t2 -c"$CONNS" -d2s "http://$2$3" >/dev/null # warm the keep-alive pools
	out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://$2$3")
	RPS[$1]=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	P50[$1]=$(ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
	P99[$1]=$(ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
	errs=$(awk '/Non-2xx|Socket errors/' <<<"$out")
	printf '%-16s %10s req/s  p50 %7s ms  p99 %7s ms  %s\n' "$1" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" "$errs"
}

echo "== wrk -t2 -c$CONNS -d$DURATION --latency; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for size in small 4k; do
	bench "gantry/$size" $GANTRY /$size
	if [ "${PROFILE:-}" = 1 ] && [ $size = small ]; then
		wrk -t2 -c"$CONNS" -d12s "http://$GANTRY/small" >/dev/null &
		wp=$!
		curl -fsS -o bench/proxy/cpu.pprof "http://$GADMIN/debug/pprof/profile?seconds=10"
		wait $wp
		go tool pprof -top -nodecount=25 "$tmp/gantry" bench/proxy/cpu.pprof 2>/dev/null | head -32
	fi
	bench "nginx/$size" $NGINX /$size
	bench "haproxy/$size" $HAPROXY /$size
done

echo
for size in small 4k; do
	for anchor in nginx haproxy; do
		awk -v g="${RPS[gantry/$size]}" -v a="${RPS[$anchor/$size]}" -v row="$size" -v an="$anchor" \
			'BEGIN{ printf "ratio %s req/s vs %s = %.2f\n", row, an, g/a }'
		awk -v g="${P99[gantry/$size]}" -v a="${P99[$anchor/$size]}" -v row="$size" -v an="$anchor" \
			'BEGIN{ printf "ratio %s p99 vs %s = %.2f\n", row, an, a/g }'
	done
done
