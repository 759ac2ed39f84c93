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
