package fsm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// A Service's virtual IP and node ports are allocated here, in Apply, so
// that two Services created at once can never get the same one: the state
// machine sees every Service that exists. The ranges come with the
// command (the leader's flags), so every replica allocates the same.

// ServiceNet is the leader's range of service addresses and node ports.
type ServiceNet struct {
	// CIDR is the range of virtual IPs, such as 10.96.0.0/12.
	CIDR        string `json:"cidr"`
	NodePortMin int32  `json:"nodePortMin"`
	NodePortMax int32  `json:"nodePortMax"`
}

// Check says what is wrong with the ranges, or nil.
func (sn *ServiceNet) Check() error {
	p, err := netip.ParsePrefix(sn.CIDR)
	switch {
	case err != nil || !p.Addr().Is4():
		return fmt.Errorf("service CIDR %q is not an IPv4 prefix", sn.CIDR)
	case p.Bits() > 28:
		return fmt.Errorf("service CIDR %s is too small (a /28 at least)", sn.CIDR)
	case p.Masked() != p:
		return fmt.Errorf("service CIDR %s has host bits set (%s)", sn.CIDR, p.Masked())
	case sn.NodePortMin < 1 || sn.NodePortMax > 65535 || sn.NodePortMin > sn.NodePortMax:
		return fmt.Errorf("node port range %d-%d is not a range of ports", sn.NodePortMin, sn.NodePortMax)
	}
	return nil
}

// allocService gives a Service being written its virtual IP and node
// ports: those it had, those it asks for if free, or free ones. A
// Service's virtual IP never changes.
func allocService(txn *memdb.Txn, op *Op, cur *Record, sn *ServiceNet) (*Op, error) {
	if op.Verb == VerbStatus {
		return op, nil
	}
	var svc api.Service
	if err := decodeBody(op, &svc); err != nil {
		return nil, err
	}
	var old *api.Service
	if cur != nil {
		old = cur.Service()
	}
	if sn == nil {
		return nil, fmt.Errorf("%w: the command carries no service range", ErrInvalid)
	}
	if err := sn.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	cidr := netip.MustParsePrefix(sn.CIDR)
	ips, ports, err := allocated(txn, op.Namespace, op.Name)
	if err != nil {
		return nil, err
	}
	key := op.Namespace + "/" + op.Name
	spec := &svc.Spec
	switch {
	case old != nil && spec.ClusterIP == "":
		spec.ClusterIP = old.Spec.ClusterIP
	case old != nil && spec.ClusterIP != old.Spec.ClusterIP:
		return nil, fmt.Errorf("%w: spec.clusterIP: may not change (it is %s)", ErrInvalid, old.Spec.ClusterIP)
	case old != nil:
	case spec.ClusterIP == "":
		ip, ok := probe(hashOf(key), uint64(1)<<(32-cidr.Bits()), func(i uint64) bool {
			return i != 0 && i != (uint64(1)<<(32-cidr.Bits()))-1 && !ips[nth(cidr, i)]
		})
		if !ok {
			return nil, fmt.Errorf("%w: spec.clusterIP: no free address in %s", ErrInvalid, sn.CIDR)
		}
		spec.ClusterIP = nth(cidr, ip).String()
	case spec.ClusterIP != api.ClusterIPNone:
		a, err := netip.ParseAddr(spec.ClusterIP)
		if err != nil || !cidr.Contains(a) {
			return nil, fmt.Errorf("%w: spec.clusterIP: %s is not in the service range %s", ErrInvalid, spec.ClusterIP, sn.CIDR)
		}
		if a == cidr.Addr() || a == nth(cidr, (uint64(1)<<(32-cidr.Bits()))-1) {
			return nil, fmt.Errorf("%w: spec.clusterIP: %s is the network's or the broadcast address", ErrInvalid, a)
		}
		if ips[a] {
			return nil, fmt.Errorf("%w: spec.clusterIP: %s is allocated to another service", ErrInvalid, a)
		}
	}
	spec.ClusterIPs = []string{spec.ClusterIP}

	// A node port is one Service's, whatever its protocol; within the
	// Service, a TCP and a UDP port may share one, as in Kubernetes.
	taken := map[int32]bool{}
	type portKey struct {
		port  int32
		proto string
	}
	mine := map[portKey]bool{}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if spec.Type != api.ServiceTypeNodePort {
			p.NodePort = 0
			continue
		}
		kept := false
		if p.NodePort == 0 && old != nil {
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 && !mine[portKey{op.NodePort, p.Protocol}] {
					p.NodePort, kept = op.NodePort, true
				}
			}
		}
		if p.NodePort != 0 {
			// A port the Service kept stays, even if the range changed.
			switch {
			case !kept && (p.NodePort < sn.NodePortMin || p.NodePort > sn.NodePortMax):
				return nil, fmt.Errorf("%w: spec.ports[%d].nodePort: %d is not in the node port range %d-%d", ErrInvalid, i, p.NodePort, sn.NodePortMin, sn.NodePortMax)
			case ports[p.NodePort]:
				return nil, fmt.Errorf("%w: spec.ports[%d].nodePort: %d is allocated to another service", ErrInvalid, i, p.NodePort)
			case mine[portKey{p.NodePort, p.Protocol}]:
				return nil, fmt.Errorf("%w: spec.ports[%d].nodePort: %d is given twice for %s", ErrInvalid, i, p.NodePort, p.Protocol)
			}
			taken[p.NodePort], mine[portKey{p.NodePort, p.Protocol}] = true, true
		}
	}
	size := uint64(sn.NodePortMax-sn.NodePortMin) + 1
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if spec.Type != api.ServiceTypeNodePort || p.NodePort != 0 {
			continue
		}
		n, ok := probe(hashOf(fmt.Sprintf("%s/%d/%s", key, p.Port, p.Protocol)), size, func(i uint64) bool {
			port := sn.NodePortMin + int32(i)
			return !ports[port] && !taken[port]
		})
		if !ok {
			return nil, fmt.Errorf("%w: spec.ports[%d].nodePort: no free port in %d-%d", ErrInvalid, i, sn.NodePortMin, sn.NodePortMax)
		}
		p.NodePort = sn.NodePortMin + int32(n)
		taken[p.NodePort] = true
	}
	svc.Metadata = *op.Meta
	next, err := ObjectOp(op.Verb, &svc)
	if err != nil {
		return nil, err
	}
	next.UID, next.ResourceVersion = op.UID, op.ResourceVersion
	return &next, nil
}

// allocated is the virtual IPs and node ports of every Service but one.
func allocated(txn *memdb.Txn, ns, name string) (map[netip.Addr]bool, map[int32]bool, error) {
	it, err := txn.Get("Service", "id")
	if err != nil {
		return nil, nil, err
	}
	ips, ports := map[netip.Addr]bool{}, map[int32]bool{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Record)
		s := r.Service()
		if s == nil || (r.Namespace == ns && r.Name == name) {
			continue
		}
		if a, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil {
			ips[a] = true
		}
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				ports[p.NodePort] = true
			}
		}
	}
	return ips, ports, nil
}

// probe finds a free slot of size, starting at start and going up.
func probe(start, size uint64, free func(uint64) bool) (uint64, bool) {
	for k := range size {
		if i := (start + k) % size; free(i) {
			return i, true
		}
	}
	return 0, false
}

func hashOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// nth is the i-th address of an IPv4 prefix.
func nth(p netip.Prefix, i uint64) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(i)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// decodeBody decodes an op's object.
func decodeBody(op *Op, obj any) error {
	if err := json.Unmarshal(op.Body, obj); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
