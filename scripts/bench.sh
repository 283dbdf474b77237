#!/usr/bin/env bash
# Write throughput and latency of a 3-server Berth cluster against a
# 3-member etcd cluster, both on loopback (bench/cmd/writebench).
#
#   bash scripts/bench.sh                  # 10 s per level, 1/16/64 clients
#   bash scripts/bench.sh -duration 2s     # smoke run
#
# Arguments go to writebench (-duration, -warmup, -clients 1,16,64, -keep).
# $BERTH_BIN and $ETCD_BIN name prebuilt binaries; etcd is installed with
# apt-get when missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ensure_etcd prints the path of an etcd binary, installing Debian's
# etcd-server (and etcd-client) if there is none.
ensure_etcd() {
	if [[ -n ${ETCD_BIN:-} ]]; then
		echo "$ETCD_BIN"
		return
	fi
	if ! command -v etcd >/dev/null; then
		local sudo=
		[[ $(id -u) -eq 0 ]] || sudo=sudo
		echo "bench: installing etcd-server" >&2
		export DEBIAN_FRONTEND=noninteractive
		if ! $sudo apt-get install -y etcd-server etcd-client >&2; then
			$sudo apt-get update >&2
			$sudo apt-get install -y etcd-server etcd-client >&2
		fi
	fi
	command -v etcd
}

etcd=$(ensure_etcd)
berth=${BERTH_BIN:-}
if [[ -z $berth ]]; then
	echo "bench: building berth" >&2
	(cd "$root" && go build -o "$tmp/berth" ./cmd/berth)
	berth=$tmp/berth
fi
echo "bench: building writebench" >&2
(cd "$root/bench" && go build -o "$tmp/writebench" ./cmd/writebench)

"$tmp/writebench" -berth "$berth" -etcd "$etcd" "$@" &
pid=$!
wait "$pid"

# What security costs: the same writes (Secrets, so their encryption
# counts too) against the normal build and one built without mutual TLS,
# ACL checks and Secret encryption (-tags benchplain, never shipped).
echo "bench: building berth with security off (-tags benchplain)" >&2
(cd "$root" && go build -tags benchplain -o "$tmp/berth-plain" ./cmd/berth)
"$tmp/writebench" -berth "$berth" -plain "$tmp/berth-plain" -secrets "$@" &
pid=$!
wait "$pid"
