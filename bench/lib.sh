# Shell pieces the bench/NAME/run.sh scripts share; they source it after cd-ing to the
# repository's root: . bench/lib.sh

# need CMD=PACKAGE...: installs with apt-get the Debian packages of the commands that are
# not on PATH.
need() {
	local missing=() pair
	for pair in "$@"; do
		command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== apt-get install ${missing[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# pids holds the PIDs of the processes a script starts; on exit each is stopped and waited
# for, and the directory $tmp is removed when the script made one (with_tmp).
pids=()
tmp=
stop_started() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap stop_started EXIT

# with_tmp makes $tmp, a temporary directory removed on exit.
with_tmp() { tmp=$(mktemp -d); }

# free_port prints a TCP port on 127.0.0.1 that is free now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_redis PORT...: waits up to 10 s for a Redis-protocol server on each port to answer
# PING, and fails (set -e) when one does not.
wait_redis() {
	local port
	for port in "$@"; do
		for _ in $(seq 100); do
			redis-cli -p "$port" PING >/dev/null 2>&1 && break
			sleep 0.1
		done
		redis-cli -p "$port" PING >/dev/null
	done
}
