#!/usr/bin/env bash
# Paired A/B of gantry builds on the HTTP/1.1 rows of run.sh, with nginx beside: the same
# two Go backends, `wrk -t2 -c64 -d10s --latency` per row, every build and nginx once per
# round in an order rotated each round, ROUNDS rounds. Prints each run, the medians, and
# for each build after the first the median over rounds of its ratio to the first build
# in the same round (req/s: > 1 better; p99: < 1 better), and the same against nginx.
# Each run also shows the proxy's CPU time per request (all its threads, user + system)
# and how often its threads slept (voluntary context switches) per request.
# With the machine busy, single runs move by tens of percent: take many rounds.
#
#   bench/proxy/ab.sh                                  # the working tree's build alone
#   BUILDS="old=/tmp/gantry-old new=/tmp/gantry-new" ROUNDS=8 bench/proxy/ab.sh
#
# A build may carry a config: "name=/path/gantry:config.yaml". A build named "nginx"
# ("nginx-b=nginx") is a second nginx, configured as the first: the control, whose
# distance from the first is the spread of the machine, not of a proxy.
#
#   BUILDS="gantry=/tmp/gantry nginx-b=nginx" ROUNDS=9 DURATION=5s bench/proxy/ab.sh
#
# Every nginx adds the fields gantry adds (bench/proxy/fields.sh), unless ANCHORS=bare;
# "nginx-bare=nginx:bare" puts an nginx without them beside.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
. bench/lib.sh
. bench/proxy/fields.sh
need wrk=wrk nginx=nginx-light curl=curl
with_tmp

B1=127.0.0.1:19011 B2=127.0.0.1:19012 NGINX=127.0.0.1:18182
go build -o "$tmp/backend" ./bench/proxy/backend
if [ -z "${BUILDS:-}" ]; then
	go build -o "$tmp/gantry" ./cmd/gantry
	BUILDS="gantry=$tmp/gantry"
fi
"$tmp/backend" -addr $B1 & pids+=($!)
"$tmp/backend" -addr $B2 & pids+=($!)
names=() nginxes=() port=18190
declare -A addr procs
# start_nginx NAME ADDR [bare] starts an nginx tuned as its docs advise (upstream keep-alive,
# no access log) in front of the backends, adding the fields gantry adds (fields.sh) unless
# bare.
start_nginx() {
	local fields=$NGINX_FIELDS
	[ "${3:-}" = bare ] && fields=
	cat >"$tmp/$1.conf" <<CONF
worker_processes 2;
pid $tmp/$1.pid;
error_log $tmp/$1-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backends { server $B1; server $B2; keepalive 64; }
	server {
		listen $2;
		location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; $fields }
	}
}
CONF
	nginx -c "$tmp/$1.conf" -g 'daemon off;' & pids+=($!)
	names+=("$1") addr[$1]=$2 procs[$1]=$! nginxes+=("$1")
}
for b in $BUILDS; do
	name=${b%%=*} spec=${b#*=}
	if [ "${spec%%:*}" = nginx ]; then
		mode=
		[[ $spec == nginx:* ]] && mode=${spec#nginx:}
		start_nginx "$name" 127.0.0.1:$port "$mode"
		port=$((port + 1))
		continue
	fi
	bin=${spec%%:*} cfg=
	[[ $spec == *:* ]] && cfg=${spec#*:}
	echo "pools: [{name: b, hosts: [{addr: $B1}, {addr: $B2}]}]" >"$tmp/$name.yaml"
	[ -n "$cfg" ] && cat "$cfg" >>"$tmp/$name.yaml"
	"$bin" proxy --addr 127.0.0.1:$port --admin "" --config "$tmp/$name.yaml" --log-level warn & pids+=($!)
	names+=("$name") addr[$name]=127.0.0.1:$port procs[$name]=$!
	port=$((port + 1))
done
start_nginx nginx $NGINX
for n in "${names[@]}"; do
	for i in $(seq 100); do curl -fsS -o /dev/null "http://${addr[$n]}/small" 2>/dev/null && break; sleep 0.1; done
	wrk -t2 -c64 -d2s "http://${addr[$n]}/small" >/dev/null
done

# An nginx's CPU is its workers'.
for n in "${nginxes[@]}"; do
	procs[$n]+=" $(pgrep -P "${procs[$n]}" | tr '\n' ' ')"
done
# ticks and sleeps: CPU clock ticks and voluntary context switches of every thread of the PIDs.
ticks() { cat $(printf '/proc/%s/task/*/stat ' "$@") 2>/dev/null | awk '{s += $14 + $15} END{print s}'; }
sleeps() { cat $(printf '/proc/%s/task/*/status ' "$@") 2>/dev/null | awk '/^voluntary_ctxt/{s += $2} END{print s}'; }

ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

echo "== wrk -t2 -c64 -d$DURATION --latency, $ROUNDS rounds, order rotated; builds: ${names[*]}; anchors: ${ANCHORS:-equal work}; load $(cut -d' ' -f1-3 /proc/loadavg)"
k=${#names[@]}
for round in $(seq "$ROUNDS"); do
	for size in small 4k; do
		for j in $(seq 0 $((k - 1))); do
			n=${names[$(((j + round) % k))]}
			t0=$(ticks ${procs[$n]}) s0=$(sleeps ${procs[$n]})
			out=$(wrk -t2 -c64 -d"$DURATION" --latency "http://${addr[$n]}/$size")
			t1=$(ticks ${procs[$n]}) s1=$(sleeps ${procs[$n]})
			rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
			p99=$(ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
			reqs=$(awk '/requests in/{print $1}' <<<"$out")
			cpu=$(awk -v t=$((t1 - t0)) -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t * 1e6 / hz / r}')
			slp=$(awk -v s=$((s1 - s0)) -v r="$reqs" 'BEGIN{printf "%.3f", s / r}')
			echo "$round $size $n $rps $p99 $cpu $slp" >>"$tmp/runs"
			printf '  round %s %-5s %-10s %10s req/s  p99 %8s ms  cpu %5s us/req  sleeps %s/req  load %s\n' "$round" "$size" "$n" "$rps" "$p99" "$cpu" "$slp" "$(cut -d' ' -f1 /proc/loadavg)"
		done
	done
done

med() { sort -g | awk '{v[NR]=$1} END{ if (NR % 2) print v[(NR+1)/2]; else printf "%.4g\n", (v[NR/2]+v[NR/2+1])/2 }'; }
echo
echo "== medians over $ROUNDS rounds; paired: the median over rounds of the ratio in the same round"
for size in small 4k; do
	for n in "${names[@]}"; do
		r=$(awk -v s=$size -v n=$n '$2==s && $3==n {print $4}' "$tmp/runs" | med)
		p=$(awk -v s=$size -v n=$n '$2==s && $3==n {print $5}' "$tmp/runs" | med)
		# p99 over the mean latency (64 connections / req/s): the tail's width apart from the rate.
		w=$(awk -v s=$size -v n=$n '$2==s && $3==n {print $5 * $4 / 64000}' "$tmp/runs" | med)
		c=$(awk -v s=$size -v n=$n '$2==s && $3==n {print $6}' "$tmp/runs" | med)
		z=$(awk -v s=$size -v n=$n '$2==s && $3==n {print $7}' "$tmp/runs" | med)
		line=$(printf '%-5s %-10s %10s req/s  p99 %8s ms  p99/mean %5.2f  cpu %5s us/req  sleeps %5s/req' $size $n "$r" "$p" "$w" "$c" "$z")
		for base in "${names[0]}" nginx; do
			[ "$n" = "$base" ] && continue
			pr=$(awk -v s=$size -v n=$n -v b=$base '$2==s && $3==b {r[$1]=$4; p[$1]=$5} $2==s && $3==n {rr[$1]=$4; pp[$1]=$5}
				END{for (i in rr) print rr[i]/r[i]}' "$tmp/runs" | med)
			pp=$(awk -v s=$size -v n=$n -v b=$base '$2==s && $3==b {r[$1]=$4; p[$1]=$5} $2==s && $3==n {rr[$1]=$4; pp[$1]=$5}
				END{for (i in rr) print pp[i]/p[i]}' "$tmp/runs" | med)
			better=$(awk -v s=$size -v n=$n -v b=$base '$2==s && $3==b {p[$1]=$5} $2==s && $3==n {pp[$1]=$5}
				END{c=0; t=0; for (i in pp) {t++; if (pp[i] < p[i]) c++}; print c "/" t}' "$tmp/runs")
			line+=$(printf '   vs %s: req/s %.2fx p99 %.2fx (p99 lower in %s)' "$base" "$pr" "$pp" "$better")
		done
		echo "$line"
	done
done
