#!/usr/bin/env bash
# GPU use for real on a machine with an NVIDIA GPU: a dev agent on a
# private containerd, a Deployment of one pod asking nvidia.com/gpu: 1, an
# HPA on its GPU utilization; `berth top pods` and `berth get hpa` show the
# utilization NVML reads for the pod's GPU. Same CARRY as gpu-pod-check.sh.
set -u
CARRY=${CARRY:-.berth-dev/gpu-carry.tar.xz}
R=$(mktemp -d /tmp/gpuhpa.XXXX)
B=./bin/berth
if [[ -f $CARRY ]]; then
	tar -xJf "$CARRY" -C "$R"
	export PATH=$R/bin:$PATH LD_LIBRARY_PATH=$R/lib XTABLES_LIBDIR=$R/xtables
	mkdir -p /opt/cni/bin /run/netns && cp "$R"/cni/* /opt/cni/bin/
	cp bin/berth "$R/bin/berth" # this tree's build
	B=$R/bin/berth
fi
nvidia-smi -L
cat >"$R/ctd.toml" <<T
version = 2
root = "$R/ctd/root"
state = "$R/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$R/ctd.sock"
T
containerd --config "$R/ctd.toml" >"$R/ctd.log" 2>&1 &
CPID=$!
for _ in $(seq 50); do [[ -S $R/ctd.sock ]] && break; sleep 0.2; done
$B agent --dev --data-dir "$R/data" --containerd-socket "$R/ctd.sock" >"$R/agent.log" 2>&1 &
APID=$!
for _ in $(seq 100); do $B image load "${IMAGE:-$R/busybox.tar}" 2>&1 | grep -q "loaded" && break; sleep 0.3; done
cat <<'Y' | $B apply -f -
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu}
spec:
  replicas: 1
  selector: {matchLabels: {app: gpu}}
  template:
    metadata: {labels: {app: gpu}}
    spec:
      containers:
      - name: main
        image: berth.local/busybox:test
        command: [sh, -c, 'while :; do :; done']
        resources:
          requests: {cpu: 100m}
          limits: {nvidia.com/gpu: 1}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: gpu}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: gpu}
  minReplicas: 1
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: nvidia.com/gpu, target: {type: Utilization, averageUtilization: 50}}
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 5000}}
Y
$B rollout status deployment/gpu --timeout 60s
sleep 25
echo "--- nvidia-smi utilization"; nvidia-smi --query-gpu=uuid,utilization.gpu --format=csv
echo "--- top pods"; $B top pods
echo "--- get hpa"; $B get hpa
echo "--- hpa status"; $B get hpa gpu -o yaml | sed -n '/^status:/,$p'
kill $APID; wait $APID 2>/dev/null
$B agent purge --name dev --data-dir "$R/data" --containerd-socket "$R/ctd.sock" 2>&1 | tail -1
kill $CPID; wait $CPID 2>/dev/null
grep -i "hpa\|metric\|gpu" "$R/agent.log" | tail -15
rm -rf "$R"
