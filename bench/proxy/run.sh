#!/usr/bin/env bash
# Proxy benchmark: the same two Go backends behind gantry, nginx and HAProxy, each driven
# by wrk (HTTP/1.1 keep-alive, 64 connections, 13-byte and 4 KiB bodies) and by h2load
# (HTTP/2 over TLS, 32 connections x 10 streams, 13-byte body) in one run; the h2up rows
# are HTTP/2 over TLS to the proxy and HTTP/2 (h2c) from the proxy to the backends, gantry
# against HAProxy (`proto h2`; nginx has no HTTP/2 to upstreams but grpc_pass). The
# rows are interleaved over ROUNDS rounds and the medians compared, so that a machine whose
# load changes during the run does not favour whoever ran at the quiet moment.
# Prints req/s, p50 and p99 per row (HTTP/2 rows: from h2load's per-request log), then
# `ratio ROW vs ANCHOR = X.XX` (for req/s gantry's over the anchor's, for p99 the anchor's over
# gantry's: > 1 means gantry is better).
#
#   bench/proxy/run.sh                       # 3 rounds of 10 s per row: about 7 minutes
#   ROUNDS=9 DURATION=5s bench/proxy/run.sh  # more, shorter rounds: steadier medians, as long
#   ROUNDS=1 DURATION=5s bench/proxy/run.sh  # a quick look
#   PROFILE=1 bench/proxy/run.sh             # also 10 s CPU profiles of gantry under wrk and h2load
#
# nginx and HAProxy add the fields gantry adds to requests and responses (X-Forwarded-*,
# Forwarded, Via: bench/proxy/fields.sh), so that every proxy does the same work;
# ANCHORS=bare runs them without, as runs before 2026-11-27 did.
#
# gantry serves HTTP/1.1 with its event loop (the default); the gantry-g rows are the same
# gantry with `event_loops: -1`, every connection served by a goroutine, for the
# `ratio ROW req/s vs gantry-g` lines (> 1: the loop is faster).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}

. bench/lib.sh
. bench/proxy/fields.sh
need wrk=wrk nginx=nginx-light haproxy=haproxy h2load=nghttp2-client curl=curl
with_tmp

B1=127.0.0.1:19001 B2=127.0.0.1:19002
GANTRY=127.0.0.1:18080 GADMIN=127.0.0.1:18081 NGINX=127.0.0.1:18082 HAPROXY=127.0.0.1:18083

# A self-signed certificate for the HTTP/2-over-TLS rows.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench.test \
	-addext "subjectAltName=DNS:bench.test" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/haproxy.pem"
GANTRY_TLS=127.0.0.1:18443 NGINX_TLS=127.0.0.1:18444 HAPROXY_TLS=127.0.0.1:18445
GANTRY_H2UP=127.0.0.1:18446 HAPROXY_H2UP=127.0.0.1:18447 GADMIN_TLS=127.0.0.1:18085
GANTRY_G=127.0.0.1:18086
cat >"$tmp/gantry-tls.yaml" <<CONF
tls: [{cert_file: $tmp/cert.pem, key_file: $tmp/key.pem}]
pools: [{name: b, hosts: [{addr: $B1}, {addr: $B2}]}]
CONF
cat >"$tmp/gantry-g.yaml" <<CONF
event_loops: -1
pools: [{name: b, hosts: [{addr: $B1}, {addr: $B2}]}]
CONF
cat >"$tmp/gantry-h2up.yaml" <<CONF
tls: [{cert_file: $tmp/cert.pem, key_file: $tmp/key.pem}]
pools: [{name: b, protocol: h2, hosts: [{addr: $B1}, {addr: $B2}]}]
CONF

go build -o "$tmp/backend" ./bench/proxy/backend
go build -o "$tmp/gantry" ./cmd/gantry
"$tmp/backend" -addr $B1 & pids+=($!)
"$tmp/backend" -addr $B2 & pids+=($!)
"$tmp/gantry" proxy --addr $GANTRY --admin $GADMIN --to http://$B1 --to http://$B2 --log-level warn & pids+=($!)
"$tmp/gantry" proxy --addr $GANTRY_G --admin "" --config "$tmp/gantry-g.yaml" --log-level warn & pids+=($!)
"$tmp/gantry" proxy --addr $GANTRY_TLS --admin $GADMIN_TLS --config "$tmp/gantry-tls.yaml" --log-level warn & pids+=($!)
"$tmp/gantry" proxy --addr $GANTRY_H2UP --admin "" --config "$tmp/gantry-h2up.yaml" --log-level warn & pids+=($!)

cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backends { server $B1; server $B2; keepalive 64; }
	keepalive_requests 10000000;   # h2load does not reconnect when a connection is closed
	server {
		listen $NGINX_TLS ssl http2;
		ssl_certificate $tmp/cert.pem;
		ssl_certificate_key $tmp/key.pem;
		location / {
			proxy_pass http://backends;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			$NGINX_FIELDS
		}
	}
	server {
		listen $NGINX;
		location / {
			proxy_pass http://backends;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			$NGINX_FIELDS
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
	bind $HAPROXY_TLS ssl crt $tmp/haproxy.pem alpn h2,http/1.1
	$HAPROXY_FIELDS
	default_backend be
backend be
	balance roundrobin
	server b1 $B1
	server b2 $B2
frontend fe_h2up
	bind $HAPROXY_H2UP ssl crt $tmp/haproxy.pem alpn h2,http/1.1
	$HAPROXY_FIELDS
	default_backend be_h2
backend be_h2
	balance roundrobin
	server b1 $B1 proto h2
	server b2 $B2 proto h2
CONF
haproxy -f "$tmp/haproxy.cfg" -db & pids+=($!)

# Wait until every listener answers.
for a in $B1 $B2 $GANTRY $GANTRY_G $NGINX $HAPROXY; do
	for i in $(seq 100); do
		curl -fsS -o /dev/null "http://$a/small" 2>/dev/null && break
		sleep 0.1
	done
done

for a in $GANTRY_TLS $NGINX_TLS $HAPROXY_TLS $GANTRY_H2UP $HAPROXY_H2UP; do
	for i in $(seq 100); do
		curl -fsSk -o /dev/null "https://$a/small" 2>/dev/null && break
		sleep 0.1
	done
done

# ms converts a wrk latency ("812.00us", "1.23ms", "1.01s") to milliseconds.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

# One wrk run; appends "req/s p50 p99" (ms) to $tmp/ROW.
bench() { # row addr path
	out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://$2$3")
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	p50=$(ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
	p99=$(ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
	errs=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr -s ' ' | tr '\n' ' ')
	echo "$rps $p50 $p99" >>"$tmp/$(tr / _ <<<"$1")"
	printf '  round %s %-14s %10s req/s  p50 %7s ms  p99 %7s ms  %s\n' "$round" "$1" "$rps" "$p50" "$p99" "$errs"
}

# One h2load run over TLS (HTTP/2): 32 connections, 10 streams each; appends "req/s p50 p99"
# (ms) to $tmp/ROW, the percentiles taken from h2load's per-request log (its third column
# is the microseconds from a request's start to the end of its response).
bench_h2() { # row addr
	log="$tmp/h2load.log"
	out=$(h2load -c32 -m10 -t2 --warm-up-time=1 -D "${DURATION%s}" --log-file="$log" "https://$2/small" 2>&1)
	rps=$(awk '/^finished in/{gsub(",", ""); print $4}' <<<"$out")
	read -r p50 p99 < <(awk '$2 > 0 {print $3}' "$log" | sort -n |
		awk '{v[NR]=$1} END{ if (NR == 0) print "0 0"; else printf "%.3f %.3f\n", v[int(NR*0.50)+1]/1000, v[int(NR*0.99)+1]/1000 }')
	ok=$(awk '/^requests:/{print $8, "succeeded,", $10, "failed"}' <<<"$out")
	echo "$rps $p50 $p99" >>"$tmp/$(tr / _ <<<"$1")"
	printf '  round %s %-14s %10s req/s  p50 %7s ms  p99 %7s ms  %s\n' "$round" "$1" "$rps" "$p50" "$p99" "$ok"
	rm -f "$log"
}

# median COLUMN ROW prints the median of one column over the rounds.
median() { sort -g <<<"$(awk -v c="$1" '{print $c}' "$tmp/$(tr / _ <<<"$2")")" | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

# rotate N WORD...: the words, the first N mod their count moved to the end.
rotate() {
	local n=$(($1 % ($# - 1)))
	shift
	echo "${@:n+1}" "${@:1:n}"
}

echo "== wrk -t2 -c$CONNS -d$DURATION --latency, $ROUNDS rounds interleaved; $(nproc) CPUs; anchors: ${ANCHORS:-equal work}; load $(cut -d' ' -f1-3 /proc/loadavg)"
for addr in $GANTRY $GANTRY_G $NGINX $HAPROXY; do
	wrk -t2 -c"$CONNS" -d2s "http://$addr/small" >/dev/null # warm the keep-alive pools
done
rows=()
for round in $(seq "$ROUNDS"); do
	for size in small 4k; do
		# The order turns each round, so that no proxy always runs after the same one.
		for proxy in $(rotate "$round" gantry gantry-g nginx haproxy); do
			case $proxy in gantry) a=$GANTRY ;; gantry-g) a=$GANTRY_G ;; nginx) a=$NGINX ;; haproxy) a=$HAPROXY ;; esac
			bench "$proxy/$size" "$a" "/$size"
			[ "$round" = 1 ] && rows+=("$proxy/$size")
		done
	done
	for proxy in $(rotate "$round" gantry nginx haproxy); do
		case $proxy in gantry) a=$GANTRY_TLS ;; nginx) a=$NGINX_TLS ;; haproxy) a=$HAPROXY_TLS ;; esac
		bench_h2 "$proxy/h2" "$a"
		[ "$round" = 1 ] && rows+=("$proxy/h2")
	done
	for proxy in $(rotate "$round" gantry haproxy); do
		case $proxy in gantry) a=$GANTRY_H2UP ;; haproxy) a=$HAPROXY_H2UP ;; esac
		bench_h2 "$proxy/h2up" "$a"
		[ "$round" = 1 ] && rows+=("$proxy/h2up")
	done
done

if [ "${PROFILE:-}" = 1 ]; then
	wrk -t2 -c"$CONNS" -d12s "http://$GANTRY/small" >/dev/null &
	wp=$!
	curl -fsS -o "$tmp/cpu.pprof" "http://$GADMIN/debug/pprof/profile?seconds=10"
	wait $wp
	echo "== gantry CPU profile under wrk (13-byte body)"
	go tool pprof -top -nodecount=25 "$tmp/gantry" "$tmp/cpu.pprof" 2>/dev/null | sed -n '4,32p'
	h2load -c32 -m10 -t2 -D 12 "https://$GANTRY_TLS/small" >/dev/null 2>&1 &
	hp=$!
	curl -fsS -o "$tmp/cpu-h2.pprof" "http://$GADMIN_TLS/debug/pprof/profile?seconds=10"
	wait $hp
	echo "== gantry CPU profile under h2load over TLS (13-byte body), by cumulative time"
	go tool pprof -top -cum -nodecount=40 "$tmp/gantry" "$tmp/cpu-h2.pprof" 2>/dev/null | sed -n '4,47p'
fi

echo
echo "== medians over $ROUNDS rounds"
for row in "${rows[@]}"; do
	printf '%-16s %10s req/s  p50 %7s ms  p99 %7s ms\n' "$row" "$(median 1 "$row")" "$(median 2 "$row")" "$(median 3 "$row")"
done
echo
# better ROW ANCHOR prints in how many rounds gantry's req/s was the higher and its p99 the
# lower: medians alone hide whether a lead held round by round.
better() {
	paste -d' ' "$tmp/gantry_$1" "$tmp/$2_$1" | awk -v row="$1" -v an="$2" \
		'{ n++; r += $1 > $4; p += $3 < $6 } END { printf "%-5s vs %-7s req/s higher in %d of %d rounds, p99 lower in %d\n", row, an, r, n, p }'
}
echo "== rounds in which gantry did better"
for size in small 4k h2; do
	better $size nginx
done
better h2 haproxy
better h2up haproxy
echo
# ratio ROW ANCHOR: gantry's req/s over the anchor's, and the anchor's p99 over gantry's.
ratio() {
	awk -v g="$(median 1 gantry/$1)" -v a="$(median 1 $2/$1)" -v row="$1" -v an="$2" \
		'BEGIN{ printf "ratio %s req/s vs %s = %.2f\n", row, an, g/a }'
	awk -v g="$(median 3 gantry/$1)" -v a="$(median 3 $2/$1)" -v row="$1" -v an="$2" \
		'BEGIN{ if (g > 0) printf "ratio %s p99 vs %s = %.2f\n", row, an, a/g }'
}
for anchor in nginx haproxy; do
	ratio h2 $anchor
done
ratio h2up haproxy
for size in small 4k; do
	for anchor in nginx haproxy gantry-g; do
		ratio $size $anchor
	done
done
