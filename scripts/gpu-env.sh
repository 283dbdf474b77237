# Sourced by the GPU checks (gpu-pod-check.sh, gpu-hpa-check.sh): a private
# containerd and a dev agent that sees the GPUs through NVML, in a fresh
# folder $R, with the test image loaded; gpu_env_stop ends them.
# Where the machine has no containerd, CARRY (a tar.xz with bin/ berth,
# containerd, containerd-shim-runc-v2, runc, ip, iptables; lib/ their
# libraries; xtables/ iptables' extensions; cni/ plugins; busybox.tar),
# taken from a Debian 12 machine, supplies them; this tree's bin/berth, when
# built, replaces the carried one.
CARRY=${CARRY:-.berth-dev/gpu-carry.tar.xz}
R=$(mktemp -d "/tmp/${1:-gpucheck}.XXXX")
B=./bin/berth
if [[ -f $CARRY ]]; then
	tar -xJf "$CARRY" -C "$R"
	export PATH=$R/bin:$PATH LD_LIBRARY_PATH=$R/lib XTABLES_LIBDIR=$R/xtables
	mkdir -p /opt/cni/bin /run/netns && cp "$R"/cni/* /opt/cni/bin/
	[[ -x bin/berth ]] && cp bin/berth "$R/bin/berth"
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

gpu_env_stop() {
	kill $APID; wait $APID 2>/dev/null
	$B agent purge --name dev --data-dir "$R/data" --containerd-socket "$R/ctd.sock" 2>&1 | tail -1
	kill $CPID; wait $CPID 2>/dev/null
}
