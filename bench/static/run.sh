#!/usr/bin/env bash
# Static file benchmark: the same files served by gantry proxy (a route with static:) and
# by nginx (sendfile, gzip level 1 — the defaults gantry mirrors), each driven by wrk
# (HTTP/1.1 keep-alive, 64 connections) in one run: a 4 KiB file, a 1 MiB file, and a
# 24 KiB stylesheet gzipped on the fly. Rows are interleaved over ROUNDS rounds and the
# medians compared. Prints req/s, p50 and p99 per row, then `ratio ROW vs nginx = X.XX`
# (req/s: gantry's over nginx's; p99: nginx's over gantry's; > 1 means gantry is better).
#
#   bench/static/run.sh                        # 3 rounds of 10 s per row: about 2 minutes
#   ROUNDS=1 DURATION=3s bench/static/run.sh   # a quick look
#   SIZES=1m bench/static/run.sh               # only the rows named (of: 4k 1m css)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-4k 1m css}

. bench/lib.sh
need wrk=wrk nginx=nginx-light curl=curl
with_tmp

GANTRY=127.0.0.1:18180 NGINX=127.0.0.1:18182
mkdir -p "$tmp/site"
head -c 4096 /dev/urandom >"$tmp/site/4k.bin"
head -c 1048576 /dev/urandom >"$tmp/site/1m.bin"
for i in $(seq 600); do echo ".rule-$i { margin: 0 auto; padding: ${i}px; color: #333; }"; done >"$tmp/site/site.css"
chmod 755 "$tmp" "$tmp/site" && chmod 644 "$tmp"/site/* # nginx's workers run as another user

cat >"$tmp/gantry.yaml" <<CONF
routes:
  - static: {dir: $tmp/site}
CONF
go build -o "$tmp/gantry" ./cmd/gantry
"$tmp/gantry" proxy --addr $GANTRY --admin "" --config "$tmp/gantry.yaml" --log-level warn & pids+=($!)

cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 10000000;
	include /etc/nginx/mime.types;
	gzip on;
	gzip_comp_level 1;
	gzip_types text/css;
	gzip_vary on;
	server {
		listen $NGINX;
		root $tmp/site;
	}
}
CONF
nginx -c "$tmp/nginx.conf" -g 'daemon off;' & pids+=($!)

for a in $GANTRY $NGINX; do
	for i in $(seq 100); do
		curl -fsS -o /dev/null "http://$a/4k.bin" 2>/dev/null && break
		sleep 0.1
	done
done
# Both must gzip the stylesheet, or the css rows compare different work.
for a in $GANTRY $NGINX; do
	curl -fsS -H 'Accept-Encoding: gzip' -D - -o /dev/null "http://$a/site.css" | grep -qi '^content-encoding: gzip' ||
		{ echo "$a does not gzip site.css" >&2; exit 1; }
done

ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

bench() { # row addr path [header]
	out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency ${4:+-H "$4"} "http://$2$3")
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	p50=$(ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
	p99=$(ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
	errs=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr -s ' ' | tr '\n' ' ')
	echo "$rps $p50 $p99" >>"$tmp/$(tr / _ <<<"$1")"
	printf '  round %s %-14s %10s req/s  p50 %7s ms  p99 %7s ms  %s\n' "$round" "$1" "$rps" "$p50" "$p99" "$errs"
}
median() { sort -g <<<"$(awk -v c="$1" '{print $c}' "$tmp/$(tr / _ <<<"$2")")" | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

echo "== wrk -t2 -c$CONNS -d$DURATION --latency, $ROUNDS rounds interleaved; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for round in $(seq "$ROUNDS"); do
	for size in $SIZES; do
		for server in gantry nginx; do
			case $server in gantry) a=$GANTRY ;; nginx) a=$NGINX ;; esac
			case $size in
			4k) bench "$server/$size" "$a" /4k.bin ;;
			1m) bench "$server/$size" "$a" /1m.bin ;;
			css) bench "$server/$size" "$a" /site.css "Accept-Encoding: gzip" ;;
			esac
			[ "$round" = 1 ] && rows+=("$server/$size")
		done
	done
done

echo
echo "== medians over $ROUNDS rounds"
for row in "${rows[@]}"; do
	printf '%-14s %10s req/s  p50 %7s ms  p99 %7s ms\n' "$row" "$(median 1 "$row")" "$(median 2 "$row")" "$(median 3 "$row")"
done
echo
for size in $SIZES; do
	awk -v g="$(median 1 gantry/$size)" -v a="$(median 1 nginx/$size)" -v row="$size" \
		'BEGIN{ printf "ratio static-%s req/s vs nginx = %.2f\n", row, g/a }'
	awk -v g="$(median 3 gantry/$size)" -v a="$(median 3 nginx/$size)" -v row="$size" \
		'BEGIN{ printf "ratio static-%s p99 vs nginx = %.2f\n", row, a/g }'
done
