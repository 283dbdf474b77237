#!/usr/bin/env bash
# Idle footprint of a one-node Berth agent (--dev): resident memory and CPU
# share over an idle period.
#
#   bash scripts/footprint.sh [SECONDS]    # idle period, default 300
#
# $BERTH_BIN names a prebuilt binary. Goal: <= 128 MiB RSS, <= 1% of a core.
set -euo pipefail

idle=${1:-300}
settle=5 # seconds after the API answers before the idle period starts
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-footprint.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [[ -n ${CONTAINERD_SOCKET:-} && -n ${berth:-} ]]; then
		"$berth" agent purge --name dev --data-dir "$tmp/data" --containerd-socket "$CONTAINERD_SOCKET" \
			--containerd-namespace "footprint-$$" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_free reports whether nothing listens on 127.0.0.1:$1 (TCP or UDP).
port_free() {
	if command -v ss >/dev/null; then
		! ss -Htlnu "sport = :$1" | grep -q .
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# free_port prints a port that is free now and not in $used.
used=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if [[ $used != *" $p "* ]] && port_free "$p"; then
			used+="$p "
			echo "$p"
			return
		fi
	done
}

# cpu_ticks prints utime+stime of process $1 in clock ticks.
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) } # the fields after the command name
	read -r -a f <<<"$stat"
	echo $((f[11] + f[12])) # utime and stime are fields 14 and 15
}

berth=${BERTH_BIN:-}
if [[ -z $berth ]]; then
	echo "footprint: building berth" >&2
	(cd "$root" && go build -o "$tmp/berth" ./cmd/berth)
	berth=$tmp/berth
fi

api=$(free_port) raft=$(free_port) gossip=$(free_port)
# CONTAINERD_SOCKET: measure a node agent that watches a containerd (no pods).
"$berth" agent --dev --data-dir "$tmp/data" --api-port "$api" --raft-port "$raft" \
	--gossip-port "$gossip" --log-level warn --containerd-socket "${CONTAINERD_SOCKET:-}" \
	--containerd-namespace "footprint-$$" >"$tmp/agent.log" 2>&1 &
pid=$!

for i in $(seq 300); do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "footprint: the agent exited:" >&2
		cat "$tmp/agent.log" >&2
		exit 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$api") 2>/dev/null && break
	if [[ $i -eq 300 ]]; then
		echo "footprint: the agent's API did not open in 30 s" >&2
		exit 1
	fi
	sleep 0.1
done
sleep "$settle"

hz=$(getconf CLK_TCK)
echo "footprint: agent pid $pid idle for ${idle}s (after ${settle}s to settle)" >&2
t0=$(date +%s.%N) c0=$(cpu_ticks "$pid")
sleep "$idle"
t1=$(date +%s.%N) c1=$(cpu_ticks "$pid")
kill -0 "$pid" 2>/dev/null || { echo "footprint: the agent exited" >&2; cat "$tmp/agent.log" >&2; exit 1; }
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")

awk -v rss="$rss_kb" -v hwm="$hwm_kb" -v c="$((c1 - c0))" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
	rssmib = rss / 1024; cpu = 100 * c / hz / (t1 - t0)
	printf "RSS      %7.1f MiB (peak %.1f MiB)   goal <= 128 MiB   %s\n", rssmib, hwm / 1024, (rssmib <= 128 ? "ok" : "OVER")
	printf "CPU      %7.2f %% of a core over %.0f s   goal <= 1%%       %s\n", cpu, t1 - t0, (cpu <= 1 ? "ok" : "OVER")
}'
