#!/usr/bin/env bash
# A GPU pod for real on a machine with an NVIDIA GPU: a private containerd,
# a dev agent that sees the GPUs through NVML, and a pod asking
# nvidia.com/gpu: 1 that lists the devices it was given.
# Where the machine has no containerd, CARRY (a tar.xz with bin/ berth,
# containerd, containerd-shim-runc-v2, runc, ip, iptables; lib/ their
# libraries; xtables/ iptables' extensions; cni/ plugins; busybox.tar),
# taken from a Debian 12 machine, supplies them.
set -u
CARRY=${CARRY:-.berth-dev/gpu-carry.tar.xz}
R=$(mktemp -d /tmp/gpupod.XXXX)
B=./bin/berth
if [[ -f $CARRY ]]; then
	tar -xJf "$CARRY" -C "$R"
	export PATH=$R/bin:$PATH LD_LIBRARY_PATH=$R/lib XTABLES_LIBDIR=$R/xtables
	mkdir -p /opt/cni/bin /run/netns && cp "$R"/cni/* /opt/cni/bin/
	B=$R/bin/berth
fi
nvidia-smi -L
ls -l /dev/nvidia* 2>&1 | head
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
kill $APID; wait $APID 2>/dev/null
$B agent purge --name dev --data-dir "$R/data" --containerd-socket "$R/ctd.sock" 2>&1 | tail -1
kill $CPID; wait $CPID 2>/dev/null
grep -iE "error|warn" "$R/agent.log" | grep -v raft | tail -5
rm -rf "$R"
