#!/usr/bin/env bash
# `make run`: starts a one-node dev cluster in the background, deploys the
# demo app and says how to reach it. `make stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.berth-dev
mkdir -p "$state"
bin=./bin/berth

if [[ -f $state/agent.pid ]] && kill -0 "$(cat "$state/agent.pid")" 2>/dev/null; then
	echo "berth: a dev agent is running already (pid $(cat "$state/agent.pid"))"
else
	rm -rf "$state/data"
	nohup "$bin" agent --dev --data-dir "$state/data" >"$state/agent.log" 2>&1 &
	echo $! >"$state/agent.pid"
	for _ in $(seq 1 100); do
		"$bin" raft leader >/dev/null 2>&1 && break
		kill -0 "$(cat "$state/agent.pid")" 2>/dev/null || { cat "$state/agent.log"; exit 1; }
		sleep 0.2
	done
fi
"$bin" raft leader >/dev/null
# The leader creates the default namespace right after its election.
for _ in $(seq 1 50); do "$bin" get namespace default >/dev/null 2>&1 && break; sleep 0.1; done

"$bin" apply -f examples/demo.yaml
echo
"$bin" get namespaces
echo
"$bin" get configmaps -n demo
echo
"$bin" get secrets -n demo
echo
# The leader records the agent as a node once its gossip inventory is in.
for _ in $(seq 1 50); do "$bin" get node dev >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" get nodes
cat <<TXT

Berth is running: one dev server (also a worker node), API on 127.0.0.1:7400,
gossip on 7402 (log: $state/agent.log).
Try:
  $bin get configmaps -n demo -o yaml
  $bin watch configmaps -n demo          # and in another shell: $bin apply -f examples/demo.yaml
  $bin describe secret web-credentials -n demo
  $bin describe node dev                 # capacity, labels, GPUs (through NVML)
Stop it with: make stop
TXT
