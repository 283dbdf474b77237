#!/usr/bin/env bash
# GPU use for real on a machine with an NVIDIA GPU: a dev agent on a
# private containerd (see gpu-env.sh), a Deployment of one pod asking
# nvidia.com/gpu: 1, an HPA on its GPU utilization; `berth top pods` and
# `berth get hpa` show the utilization NVML reads for the pod's GPU.
set -u
source "$(dirname "$0")/gpu-env.sh" gpuhpa
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
gpu_env_stop
grep -i "hpa\|metric\|gpu" "$R/agent.log" | tail -15
rm -rf "$R"
