#!/usr/bin/env bash
# A GPU pod for real on a machine with an NVIDIA GPU: a private containerd,
# a dev agent that sees the GPUs through NVML, and a pod asking
# nvidia.com/gpu: 1 that lists the devices it was given (see gpu-env.sh).
set -u
source "$(dirname "$0")/gpu-env.sh" gpupod
ls -l /dev/nvidia* 2>&1 | head
echo "--- image"; $B image ls
echo "--- get nodes"; $B get nodes
$B run --name gpu --gpus 1 --restart no berth.local/busybox:test \
	sh -c 'echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; ls -l /dev/nvidia*; head -c 0 /dev/nvidiactl && echo nvidiactl-opens; head -c 0 /dev/nvidia0 && echo nvidia0-opens; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null | grep "c 195" || true'
echo "exit code $?"
echo "--- ps -a"; $B ps -a
$B get pod gpu -o yaml | grep -E "assignedGPUs|nodeName|- GPU|phase|exitCode"
echo "--- a second GPU pod waits (one GPU)"
$B run -d --name gpu2 --gpus 1 berth.local/busybox:test sleep 60
$B run -d --name gpu3 --gpus 1 berth.local/busybox:test sleep 60
sleep 2; $B ps -a
gpu_env_stop
grep -iE "error|warn" "$R/agent.log" | grep -v raft | tail -5
rm -rf "$R"
