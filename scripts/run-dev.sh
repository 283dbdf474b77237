#!/usr/bin/env bash
# `make run`: starts a one-node dev cluster in the background (and a
# containerd of its own when the host runs none), loads the test image,
# deploys the demo app and says how to reach it. `make stop` stops it.
# A second run reuses what is running.
set -euo pipefail
cd "$(dirname "$0")/.."
state=$PWD/.berth-dev
mkdir -p "$state"
bin=./bin/berth

# containerd: the host's if it answers, else one under .berth-dev.
sock=/run/containerd/containerd.sock
if ! ctr -a "$sock" version >/dev/null 2>&1; then
	sock=$state/containerd/containerd.sock
	if ! ctr -a "$sock" version >/dev/null 2>&1; then
		mkdir -p "$state/containerd"
		cat >"$state/containerd/config.toml" <<TOML
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
TOML
		nohup containerd --config "$state/containerd/config.toml" >"$state/containerd.log" 2>&1 &
		echo $! >"$state/containerd.pid"
		for _ in $(seq 1 100); do ctr -a "$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
		ctr -a "$sock" version >/dev/null || { cat "$state/containerd.log"; exit 1; }
	fi
fi

if [[ -f $state/agent.pid ]] && kill -0 "$(cat "$state/agent.pid")" 2>/dev/null; then
	echo "berth: a dev agent is running already (pid $(cat "$state/agent.pid"))"
else
	"$bin" agent purge --name dev --data-dir "$state/data" --containerd-socket "$sock" >/dev/null 2>&1 || true
	rm -rf "$state/data"
	nohup "$bin" agent --dev --data-dir "$state/data" --containerd-socket "$sock" >"$state/agent.log" 2>&1 &
	echo $! >"$state/agent.pid"
	echo "$sock" >"$state/containerd.sock.path"
	for _ in $(seq 1 100); do
		"$bin" raft leader >/dev/null 2>&1 && break
		kill -0 "$(cat "$state/agent.pid")" 2>/dev/null || { cat "$state/agent.log"; exit 1; }
		sleep 0.2
	done
fi
"$bin" raft leader >/dev/null
# The leader creates the default namespace right after its election.
for _ in $(seq 1 50); do "$bin" get namespace default >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" apply -f examples/demo.yaml >/dev/null

# The test image: Debian's static busybox, built here, loaded onto every node.
image=berth.local/busybox:test
[[ -f $state/busybox.tar ]] || go run ./internal/testimage/mkimage -o "$state/busybox.tar" -ref "$image"
for _ in $(seq 1 100); do "$bin" image load "$state/busybox.tar" >/dev/null 2>&1 && break; sleep 0.2; done
"$bin" image load "$state/busybox.tar"

# The demo web app: a Deployment of 3 replicas of busybox httpd, each
# page naming its pod.
"$bin" apply -f examples/web.yaml >/dev/null
"$bin" rollout status deployment/web --timeout 60s
echo
"$bin" ps
echo
# sed reads the whole list: head would leave berth a SIGPIPE, which
# pipefail turns into a failure.
first=$("$bin" get pods -l app=web -o name | sed -n '1s|^pod/||p')
vip=$("$bin" get service web -o json | grep -o '"clusterIP": *"[0-9.]*"' | grep -o '[0-9.]*[0-9]')
# The Service's endpoints follow readiness; wait until the ingress answers.
for _ in $(seq 1 50); do curl -fsS -o /dev/null http://127.0.0.1/ 2>/dev/null && break; sleep 0.2; done
echo "Berth is running: one dev server (also a worker node), API on 127.0.0.1:7400 (log: $state/agent.log)."
echo "The CLI's admin credentials (CA, client certificate, token) are in ${BERTH_CONFIG:-$HOME/.berth/config}; mutual TLS on every port."
echo "The demo app, load-balanced over its replicas (each page names its pod):"
echo "  curl http://127.0.0.1/          # through the ingress, on every node's port 80 (443 for HTTPS)"
echo "  curl http://$vip/       # through the Service's virtual IP"
echo "  $bin exec $first -- wget -qO- http://web/   # by its DNS name, from a pod"
token=$(grep -o '"token": *"[^"]*"' "${BERTH_CONFIG:-$HOME/.berth/config}" | sed 's/.*"\([^"]*\)"$/\1/')
echo "The web dashboard (live: nodes, rollouts, pods, services, events), signed in with the admin token:"
echo "  http://127.0.0.1:7403/#token=$token"
echo "Prometheus metrics and health: curl http://127.0.0.1:7403/metrics, /healthz, /readyz"
cat <<TXT
Try next:
  $bin ps                              # pods: node, IP, status, restarts
  $bin get deployments                 # READY, UP-TO-DATE, AVAILABLE
  $bin get services; $bin get endpoints web; $bin get ingress
  $bin scale deployment/web --replicas 5
  $bin logs -f $first                  # a pod's log, followed
  $bin exec -it $first -- sh           # a shell in it
  $bin rollout restart deployment/web && $bin rollout status deployment/web
  $bin rollout history deployment/web
  $bin run -d --name hello -p 8080:80 $image httpd -f -p 80 -h /www && curl http://127.0.0.1:8080/
  $bin describe node dev               # capacity, labels, GPUs (through NVML), its events
  $bin events -f                       # what happens, as it happens (describe shows an object's own)
  $bin get pods -o wide -w             # the table, then a row per change
Stop it with: make stop
TXT
