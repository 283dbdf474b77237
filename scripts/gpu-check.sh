#!/usr/bin/env bash
# Real GPU inventory and a GPU pod's placement on the device machine.
B=./bin/berth
nvidia-smi -L
echo "--- berth inventory"
$B inventory --data-dir /tmp
D=$(mktemp -d)
$B agent --dev --data-dir $D/data > $D/agent.log 2>&1 &
for i in $(seq 100); do $B get nodes 2>/dev/null | grep -q " Ready " && break; sleep 0.2; done
echo "--- get nodes"; $B get nodes
echo "--- describe node"; $B describe node dev
echo "--- members"; $B members
cat > $D/pod.yaml <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: train}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H200}
  containers:
  - name: train
    image: busybox
    resources: {limits: {nvidia.com/gpu: 1}}
---
apiVersion: v1
kind: Pod
metadata: {name: train2}
spec:
  containers:
  - name: train
    image: busybox
    resources: {limits: {nvidia.com/gpu: 1}}
Y
$B apply -f $D/pod.yaml; sleep 2
echo "--- pods"; $B get pods; $B get pod train -o yaml | grep -A2 "assignedGPUs\|nodeName"
$B describe pod train2 | grep -i "Node:\|PodScheduled"
echo "--- get nodes (allocated)"; $B get nodes
kill %1; wait
tail -3 $D/agent.log
