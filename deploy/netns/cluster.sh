#!/usr/bin/env bash
# A Berth cluster of several "machines" on this one: each host a network
# namespace with its own address on a bridge of this script's own, its own
# data dir and a real `berth agent --config FILE` that runs pods on the
# machine's containerd (each agent in a containerd namespace of its own).
#
#   deploy/netns/cluster.sh up      # 3 servers + 2 workers, prints how to use it
#   deploy/netns/cluster.sh smoke   # a Deployment and a Service, reached from every host
#   deploy/netns/cluster.sh down    # removes everything up made
#
# Options (before or after the verb; smoke and down need only --prefix):
#   --prefix P       names: bridge Pbr, namespaces P-s1.., veths Ps1.. (default bn)
#   --subnet A.B.C.0/24  the hosts' addresses: the bridge .1, hosts .2 on (default 10.251.0.0/24)
#   --servers N      servers that bootstrap together (default 3)
#   --workers M      workers that join with a token (default 2)
#   --dir DIR        data dirs, logs, CA, credentials (default /var/lib/berth-netns/P)
#   --bin FILE       the berth binary (default: bin/berth of this tree, else berth in PATH)
#   --containerd SOCK  the containerd to use (default: the machine's if it answers, else one
#                    started under DIR and stopped by down)
#   --image FILE     the test image archive to load (default: built with internal/testimage/mkimage)
#   --pod-cidr CIDR, --service-cidr CIDR  (defaults: the agent's)
#
# Needs root, iproute2, iptables, nsenter, curl, containerd and runc.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image_ref=berth.local/busybox:test

prefix=bn
subnet=10.251.0.0/24
servers=3
workers=2
dir=
bin=
sock=
image=
pod_cidr=10.244.0.0/16
service_cidr=10.96.0.0/12
verb=

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}
say() { echo "cluster.sh: $*" >&2; }

# usage: the comment at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while (($#)); do
	opt=$1
	val=
	case $opt in
	--*=*) val=${opt#*=} opt=${opt%%=*} ;;
	esac
	case $opt in
	up | smoke | down)
		[[ -z $verb ]] || die "one verb at a time ($verb, $opt)"
		verb=$opt
		shift
		continue
		;;
	-h | --help)
		usage
		exit 0
		;;
	--prefix | --subnet | --servers | --workers | --dir | --bin | --containerd | --image | --pod-cidr | --service-cidr)
		if [[ -z $val ]]; then
			(($# >= 2)) || die "$opt needs a value"
			val=$2
			shift
		fi
		shift
		;;
	*) die "unknown argument $opt (see --help)" ;;
	esac
	case $opt in
	--prefix) prefix=$val ;;
	--subnet) subnet=$val ;;
	--servers) servers=$val ;;
	--workers) workers=$val ;;
	--dir) dir=$val ;;
	--bin) bin=$val ;;
	--containerd) sock=$val ;;
	--image) image=$val ;;
	--pod-cidr) pod_cidr=$val ;;
	--service-cidr) service_cidr=$val ;;
	esac
done
[[ -n $verb ]] || {
	usage >&2
	exit 2
}
[[ $prefix =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "--prefix $prefix: want 1-8 of a-z and 0-9, starting with a letter"
((EUID == 0)) || die "needs root (network namespaces, iptables)"

# What up recorded, for smoke and down: the options that matter later.
statefile=/run/berth-netns/$prefix.env
if [[ $verb != up && -f $statefile ]]; then
	# shellcheck source=/dev/null
	source "$statefile"
fi
dir=${dir:-/var/lib/berth-netns/$prefix}
if [[ -z $bin ]]; then
	if [[ -x $repo/bin/berth ]]; then bin=$repo/bin/berth; else bin=$(command -v berth || true); fi
fi
[[ -n $bin && -x $bin ]] || die "no berth binary: build it (make build) or give --bin FILE"
bin=$(readlink -f "$bin")
bridge=${prefix}br
comment=berth-netns:$prefix
# The rules of this cluster in `iptables -S` (which may quote the comment).
rule_re="--comment \"?$comment\"?( |$)"
tag=$prefix # containerd namespaces are $tag-HOST

[[ $subnet =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || die "--subnet $subnet: want a /24 such as 10.251.0.0/24"
base=${BASH_REMATCH[1]}
base_re=${base//./\\.}
[[ $servers =~ ^[1-9]$ ]] || die "--servers $servers: want 1 to 9"
[[ $workers =~ ^[0-9]{1,2}$ ]] || die "--workers $workers: want 0 to 99"

hosts=()
for ((i = 1; i <= servers; i++)); do hosts+=("s$i"); done
for ((i = 1; i <= workers; i++)); do hosts+=("w$i"); done

# ip_of HOST: the host's address: servers from .2, workers after them.
ip_of() {
	local h=$1 n=${1:1}
	if [[ $h == s* ]]; then echo "$base.$((1 + n))"; else echo "$base.$((1 + servers + n))"; fi
}
ns_of() { echo "$prefix-$1"; }
server_addrs() {
	local out=() i
	for ((i = 1; i <= servers; i++)); do out+=("$(ip_of "s$i"):7400"); done
	local IFS=,
	echo "${out[*]}"
}
cli() { "$bin" --config "$dir/client.json" --addr "$(server_addrs)" "$@"; }
ipt() { iptables -w "$@"; }

# --- up ---------------------------------------------------------------------

start_containerd() {
	if [[ -n $sock ]]; then
		ctr -a "$sock" version >/dev/null 2>&1 || die "--containerd $sock does not answer"
		return
	fi
	if ctr -a /run/containerd/containerd.sock version >/dev/null 2>&1; then
		sock=/run/containerd/containerd.sock
		return
	fi
	local cd=$dir/containerd
	sock=$cd/containerd.sock
	mkdir -p "$cd"
	cat >"$cd/config.toml" <<TOML
version = 2
root = "$cd/root"
state = "$cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
TOML
	setsid containerd --config "$cd/config.toml" </dev/null >"$dir/containerd.log" 2>&1 &
	echo $! >"$cd/pid"
	own_containerd=1
	local _
	for _ in $(seq 1 100); do
		ctr -a "$sock" version >/dev/null 2>&1 && return
		sleep 0.1
	done
	cat "$dir/containerd.log" >&2
	die "containerd did not start"
}

# subnet_free: no address or route of the machine touches the /24. (Text
# is captured before grep reads it, here and below: under pipefail, a
# writer that grep -q leaves behind fails the pipeline on SIGPIPE.)
subnet_free() {
	local addrs routes
	addrs=$(ip -4 -o addr show)
	routes=$(ip -4 route show table all)
	! grep -q " inet $base_re\\." <<<"$addrs" && ! grep -Eq "(^| )$base_re\\.[0-9]+(/| |$)" <<<"$routes"
}

make_net() {
	ip link add "$bridge" type bridge
	ip link set "$bridge" addrgenmode none
	ip addr add "$base.1/24" dev "$bridge"
	ip link set "$bridge" up
	# Bridged traffic crosses this namespace's FORWARD chain (br_netfilter),
	# whose policy may be DROP (Docker sets it); and this namespace need not
	# track what only crosses the bridge.
	ipt -I FORWARD 1 -i "$bridge" -m comment --comment "$comment" -j ACCEPT
	ipt -I FORWARD 1 -o "$bridge" -m comment --comment "$comment" -j ACCEPT
	ipt -I INPUT 1 -i "$bridge" -m comment --comment "$comment" -j ACCEPT
	ipt -t raw -I PREROUTING 1 -i "$bridge" ! -d "$base.1/32" -m comment --comment "$comment" -j NOTRACK
	local h ns veth
	for h in "${hosts[@]}"; do
		ns=$(ns_of "$h") veth=$prefix$h
		ip netns add "$ns"
		ip link add "$veth" type veth peer name eth0 netns "$ns"
		ip link set "$veth" addrgenmode none
		ip link set "$veth" master "$bridge"
		ip link set "$veth" up
		ip -n "$ns" addr add "$(ip_of "$h")/24" dev eth0
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$base.1"
	done
}

# write_config HOST EXTRA...: the host's agent.yaml, with extra lines.
write_config() {
	local h=$1
	shift
	mkdir -p "$dir/$h"
	{
		echo "# $h of the netns cluster $prefix (deploy/netns/cluster.sh)"
		echo "name: $h"
		echo "bind: $(ip_of "$h")"
		echo "data-dir: $dir/$h/data"
		echo "containerd-socket: $sock"
		echo "containerd-namespace: $tag-$h"
		echo "pod-cidr: $pod_cidr"
		echo "service-cidr: $service_cidr"
		printf '%s\n' "$@"
	} >"$dir/$h/agent.yaml"
	chmod 600 "$dir/$h/agent.yaml"
}

# start_agent HOST: `berth agent --config` in the host's network namespace.
# nsenter, not `ip netns exec`: an agent that runs pods makes namespaces
# and mounts that containerd must see, so it keeps the machine's mount
# namespace. Neither setsid nor nsenter forks here: $! is the agent.
start_agent() {
	local h=$1
	setsid nsenter --net="/run/netns/$(ns_of "$h")" "$bin" agent --config "$dir/$h/agent.yaml" \
		</dev/null >>"$dir/$h/agent.log" 2>&1 &
	echo $! >"$dir/$h/agent.pid"
}

# wait_for WHAT SECONDS CMD...: runs CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2 end h
	shift 2
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		for h in "${hosts[@]}"; do
			if [[ -f $dir/$h/agent.pid ]] && ! kill -0 "$(cat "$dir/$h/agent.pid")" 2>/dev/null; then
				tail -n 30 "$dir/$h/agent.log" >&2
				die "the agent of $h exited (log: $dir/$h/agent.log)"
			fi
		done
		((SECONDS < end)) || {
			"$@" >&2 || true
			die "$what: not within ${secs}s"
		}
		sleep 0.3
	done
}

ready_nodes() { cli get nodes 2>/dev/null | awk 'NR > 1 && $2 == "Ready"' | wc -l; }
all_ready() { [[ $(ready_nodes) -eq ${#hosts[@]} ]]; }
image_everywhere() {
	local out
	out=$(cli image load "$image" 2>&1) || return 1
	[[ $(grep -c "loaded $image_ref" <<<"$out") -eq ${#hosts[@]} ]]
}

# random_token N: N characters of the alphabet of Berth's tokens.
random_token() {
	local s
	s=$(head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'a-z2-7')
	echo "${s:0:$1}"
}

up() {
	for tool in ip iptables nsenter setsid curl ctr containerd; do
		command -v "$tool" >/dev/null || die "needs $tool"
	done
	[[ ! -e $statefile ]] || die "cluster $prefix is up already ($statefile); run: $0 --prefix $prefix down"
	! ip link show "$bridge" >/dev/null 2>&1 || die "a link $bridge exists already; run: $0 --prefix $prefix down"
	subnet_free || die "--subnet $subnet: the machine uses addresses of it already; pick another"
	[[ ! -e $dir ]] || die "$dir exists already; run: $0 --prefix $prefix down (or give another --dir)"
	mkdir -p "$dir" /run/berth-netns
	dir=$(cd "$dir" && pwd)
	[[ -z $image ]] || image=$(readlink -f "$image")
	own_containerd=0
	start_containerd
	# From here on, down knows what to remove.
	cat >"$statefile" <<ENV
dir=$dir
subnet=$subnet
servers=$servers
workers=$workers
bin=$bin
sock=$sock
own_containerd=$own_containerd
pod_cidr=$pod_cidr
service_cidr=$service_cidr
ENV
	make_net

	# The cluster CA, shared by the servers that bootstrap together, and
	# the first admin token.
	local out fp boot joins=() i
	out=$("$bin" tls ca-create --dir "$dir/ca")
	fp=$(sed -n 's/.*(fingerprint \([0-9a-f]\{64\}\)).*/\1/p' <<<"$out")
	[[ -n $fp ]] || die "no fingerprint in: $out"
	boot=bthacl-$(random_token 6).$(random_token 26)
	for ((i = 1; i <= servers; i++)); do joins+=("$(ip_of "s$i"):7400"); done
	for ((i = 1; i <= servers; i++)); do
		write_config "s$i" "server: true" "ca-cert: $dir/ca/ca.pem" "ca-key: $dir/ca/ca-key.pem" \
			"bootstrap-expect: $servers" "bootstrap-token: $boot" "join: [$(server_addrs)]"
		start_agent "s$i"
	done
	say "servers ${joins[*]} started; waiting for their quorum"
	wait_for "logging in to s1" 90 "$bin" login "${joins[0]}" --token "$boot" --ca-fingerprint "$fp" --config "$dir/client.json"
	wait_for "a leader" 30 cli raft leader

	if ((workers > 0)); then
		local token
		token=$(cli token create --role worker --uses "$workers" --ttl 1h --description "netns cluster $prefix")
		for ((i = 1; i <= workers; i++)); do
			write_config "w$i" "join: [$(server_addrs)]" "token: $token"
			start_agent "w$i"
		done
	fi
	wait_for "${#hosts[@]} nodes Ready" 90 all_ready

	if [[ -z $image ]]; then
		image=$dir/busybox.tar
		(cd "$repo" && go run ./internal/testimage/mkimage -o "$image" -ref "$image_ref")
	fi
	wait_for "the test image on every node" 60 image_everywhere
	echo "image=$image" >>"$statefile"

	local h
	echo "Berth cluster $prefix is up: $servers servers and $workers workers, each host a network namespace on bridge $bridge ($subnet)."
	for h in "${hosts[@]}"; do
		printf '  %-3s %-15s  ip netns exec %-12s  metrics http://%s:7403/metrics  log %s\n' \
			"$h" "$(ip_of "$h")" "$(ns_of "$h")" "$(ip_of "$h")" "$dir/$h/agent.log"
	done
	cat <<TXT
The CLI, as admin (a client certificate and token from berth login):
  export BERTH_CONFIG=$dir/client.json BERTH_ADDR=$(server_addrs)
  $bin get nodes
  $bin raft peers
  $bin dashboard        # the web dashboard on http://127.0.0.1:7404, through a server over TLS
The test image $image_ref is on every node. Each agent's file: $dir/HOST/agent.yaml.
Next: $0 --prefix $prefix smoke    Remove it all: $0 --prefix $prefix down
TXT
}

# --- smoke ------------------------------------------------------------------

smoke_manifest() {
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: smoke}
spec:
  replicas: $1
  selector:
    matchLabels: {app: smoke}
  template:
    metadata:
      labels: {app: smoke}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      terminationGracePeriodSeconds: 1
      # One replica per node, so that hosts reach pods on other nodes.
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: smoke}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: $image_ref
        command: [sh, -c, 'mkdir -p /tmp/www && echo "smoke from \$(hostname)" >/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www']
        resources:
          requests: {cpu: 10m, memory: 8Mi}
        readinessProbe:
          httpGet: {path: /, port: 80}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: smoke}
spec:
  type: NodePort
  selector: {app: smoke}
  ports:
  - {port: 80, targetPort: 80}
YAML
}

# reach HOST URL: curl in the host's namespace until the app answers.
reach() {
	local h=$1 url=$2 end body
	end=$((SECONDS + 30))
	while :; do
		if body=$(ip netns exec "$(ns_of "$h")" curl -fsS --max-time 3 "$url" 2>&1) && [[ $body == "smoke from smoke-"* ]]; then
			printf '  %-3s %-28s %s\n' "$h" "$url" "$body"
			return 0
		fi
		((SECONDS < end)) || {
			say "$h: $url: $body"
			return 1
		}
		sleep 0.5
	done
}

smoke() {
	[[ -f $statefile ]] || die "cluster $prefix is not up ($statefile missing)"
	local replicas=$((${#hosts[@]} < 3 ? ${#hosts[@]} : 3)) svc vip='' port='' pod pods h next failed=0 i out
	cli delete deployment smoke >/dev/null 2>&1 || true
	cli delete service smoke >/dev/null 2>&1 || true
	smoke_manifest "$replicas" | cli apply -f - >/dev/null
	cli rollout status deployment/smoke --timeout 120s
	svc=$(cli get service smoke -o json)
	[[ $svc =~ \"clusterIP\":\ *\"([0-9.]+)\" ]] && vip=${BASH_REMATCH[1]}
	[[ $svc =~ \"nodePort\":\ *([0-9]+) ]] && port=${BASH_REMATCH[1]}
	[[ -n ${vip:-} && -n ${port:-} ]] || die "no clusterIP or nodePort in: $svc"
	echo "Service smoke: ClusterIP $vip port 80, NodePort $port; from every host:"
	for i in "${!hosts[@]}"; do
		h=${hosts[i]} next=${hosts[$(((i + 1) % ${#hosts[@]}))]}
		reach "$h" "http://$vip/" || failed=1
		reach "$h" "http://$(ip_of "$h"):$port/" || failed=1
		reach "$h" "http://$(ip_of "$next"):$port/" || failed=1
	done
	# From a pod, by the Service's DNS name.
	mapfile -t pods < <(cli get pods -l app=smoke -o name)
	pod=${pods[0]#pod/}
	if out=$(cli exec "$pod" -- wget -qO- http://smoke/ 2>&1) && [[ $out == "smoke from smoke-"* ]]; then
		printf '  pod %s: http://smoke/ %s\n' "$pod" "$out"
	else
		say "pod $pod: http://smoke/: $out"
		failed=1
	fi
	cli get pods -l app=smoke
	((failed == 0)) || die "smoke FAILED"
	cli delete deployment smoke >/dev/null
	cli delete service smoke >/dev/null
	echo "smoke: OK"
}

# --- down -------------------------------------------------------------------

# dir_pids: processes (this script aside) whose command line names a file
# under the cluster's dir: agents, loggers, a containerd of its own.
dir_pids() {
	# The list is made here, so that it holds neither grep nor the subshells.
	local f pid procs=(/proc/[0-9]*/cmdline)
	{ grep -lzF -- "$dir/" "${procs[@]}" 2>/dev/null || true; } | while read -r f; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] || echo "$pid"
	done
}

# pid_of HOST: the agent's pid, if that process is still the agent.
pid_of() {
	local f=$dir/$1/agent.pid pid
	[[ -f $f ]] || return 1
	pid=$(cat "$f")
	[[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == *"--config $dir/$1/agent.yaml"* ]] || return 1
	echo "$pid"
}

down() {
	local h ns pid pids=() end left=0 cns
	# The hosts up made, whatever the options say now.
	mapfile -t hosts < <(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 { print substr($1, length(p) + 1) }')
	for h in "$dir"/*/agent.yaml; do
		[[ -f $h ]] || continue
		h=$(basename "$(dirname "$h")")
		[[ " ${hosts[*]} " == *" $h "* ]] || hosts+=("$h")
	done
	for h in "${hosts[@]}"; do
		if pid=$(pid_of "$h"); then
			kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
		fi
	done
	end=$((SECONDS + 15))
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	# What the agents leave on purpose (containers, pod networks, rules),
	# each in its host; all at once.
	pids=()
	for h in "${hosts[@]}"; do
		ns=$(ns_of "$h")
		if [[ -f $dir/$h/agent.yaml && -e /run/netns/$ns ]]; then
			nsenter --net="/run/netns/$ns" "$bin" agent purge --config "$dir/$h/agent.yaml" >>"$dir/$h/purge.log" 2>&1 &
			pids+=($!)
		fi
	done
	for pid in "${pids[@]}"; do wait "$pid" || left=1; done
	((left == 0)) || say "a purge failed: see $dir/*/purge.log"
	for h in "${hosts[@]}"; do
		ns=$(ns_of "$h")
		if [[ -e /run/netns/$ns ]]; then
			for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
			ip link del "$prefix$h" 2>/dev/null || true
			ip netns del "$ns"
		fi
	done
	ip link del "$bridge" 2>/dev/null || true
	local table rule
	for table in filter raw; do
		while read -r rule; do
			# shellcheck disable=SC2086 # the rule's words
			eval "ipt -t $table -D ${rule#-A }"
		done < <(ipt -t "$table" -S | grep -E -- "$rule_re" || true)
	done
	# The containerd namespaces of the agents (images stay after a purge).
	if [[ -n ${sock:-} ]] && ctr -a "$sock" version >/dev/null 2>&1; then
		local all
		all=$(ctr -a "$sock" namespaces ls -q 2>/dev/null)
		for h in "${hosts[@]}"; do
			cns=$tag-$h
			grep -qx "$cns" <<<"$all" || continue
			ctr -a "$sock" -n "$cns" images ls -q 2>/dev/null | xargs -r ctr -a "$sock" -n "$cns" images rm --sync >/dev/null 2>&1 || true
			ctr -a "$sock" -n "$cns" leases ls -q 2>/dev/null | xargs -r ctr -a "$sock" -n "$cns" leases rm >/dev/null 2>&1 || true
			ctr -a "$sock" namespaces rm "$cns" >/dev/null 2>&1 || say "containerd namespace $cns: not empty, kept"
		done
	fi
	if [[ ${own_containerd:-0} == 1 && -f $dir/containerd/pid ]]; then
		pid=$(cat "$dir/containerd/pid")
		if [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == *"$dir/containerd/config.toml"* ]]; then
			kill -TERM "$pid"
			end=$((SECONDS + 10))
			while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		# Shims of that containerd, found by its socket.
		local procs=(/proc/[0-9]*/cmdline)
		{ grep -lzxF -- "$sock" "${procs[@]}" 2>/dev/null || true; } | cut -d/ -f3 | while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done
	fi
	if [[ -d $dir && $dir != / ]]; then
		# Mounts an agent or containerd may have left (tmpfs volumes, rootfs).
		awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
			umount -l "$m" || true
		done
		rm -rf "$dir"
	fi
	rm -f "$statefile"
	rmdir --ignore-fail-on-non-empty /run/berth-netns /var/lib/berth-netns 2>/dev/null || true

	# Nothing of it may be left.
	local what=() list
	list=$(ip netns list | awk '{ print $1 }')
	grep -q "^$prefix-" <<<"$list" && what+=("namespaces: $(grep "^$prefix-" <<<"$list" | tr '\n' ' ')")
	list=$(ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1)
	grep -Eq "^$prefix(br|[sw][0-9]+)$" <<<"$list" && what+=("links")
	list=$(ipt -S && ipt -t raw -S)
	grep -qE -- "$rule_re" <<<"$list" && what+=("iptables rules")
	[[ -z $(dir_pids) ]] || what+=("processes $(dir_pids)")
	((${#what[@]} == 0)) || die "down: left behind: ${what[*]}"
	echo "Berth cluster $prefix is down: processes, namespaces, bridge, rules and $dir removed."
}

case $verb in
up) up ;;
smoke) smoke ;;
down) down ;;
esac
