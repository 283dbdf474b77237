#!/usr/bin/env bash
# Installs what Berth's build, tests and dev cluster need on a fresh
# Debian/Ubuntu machine (as root). Idempotent: installs only what is missing.
#   scripts/install-deps.sh            # build needs (and most tests')
#   scripts/install-deps.sh test       # also Chromium (the dashboard test)
#   scripts/install-deps.sh proto      # also the protobuf compiler and Go plugins
#   scripts/install-deps.sh bench      # also wrk and nginx (the Services benchmark)
set -euo pipefail

apt_pkgs=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_pkgs+=("$2"); }

need_cmd git git
need_cmd make make
need_cmd gcc gcc
# Network namespaces and iptables, for the gossip partition tests (and pod networking).
need_cmd ip iproute2
need_cmd iptables iptables
# The Services tests reach the ingress and node ports with curl, and run
# agents in hosts' network namespaces with nsenter.
need_cmd curl curl
need_cmd nsenter util-linux
# Pods: containerd and runc run them, CNI plugins give them IPs, and the
# tests build their image from Debian's static busybox.
need_cmd containerd containerd
need_cmd runc runc
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || apt_pkgs+=(containernetworking-plugins)
dpkg -s busybox-static >/dev/null 2>&1 || apt_pkgs+=(busybox-static)
if [[ "${1:-}" == test ]]; then
	# The dashboard test (test/dashboard) drives a real headless Chromium.
	[[ -x /usr/bin/chromium ]] || apt_pkgs+=(chromium)
fi
if [[ "${1:-}" == proto ]]; then
	need_cmd protoc protobuf-compiler
fi
if [[ "${1:-}" == bench ]]; then
	need_cmd wrk wrk
	need_cmd nginx nginx
	need_cmd sysctl procps
fi

if ((${#apt_pkgs[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing ${apt_pkgs[*]}; run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Installing containerd must not start the host's own daemon for us:
	# Berth starts a containerd of its own when none runs.
	# Nor nginx's: the benchmark runs its own, and port 80 is the
	# ingress's. policy-rc.d keeps every package's service stopped.
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
	fi
	apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
	[[ -z $own_policy ]] || rm -f "$policy"
fi

if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
	echo "install-deps: Go 1.26 is needed (https://go.dev/doc/install)" >&2
	exit 1
fi

if [[ "${1:-}" == proto ]]; then
	gobin=$(go env GOPATH)/bin
	[[ -x $gobin/protoc-gen-go ]] || GOFLAGS= go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	[[ -x $gobin/protoc-gen-go-grpc ]] || GOFLAGS= go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
fi
