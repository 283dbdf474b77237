package controller

import (
	"fmt"
	"net/netip"
)

// cidrAllocator hands out the node subnets of the cluster's pod range in
// order, skipping those in use. A subnet is taken when it is written to a
// Node, and the leader's lifecycle is the only writer of gossip nodes, so
// two nodes never get the same subnet.
type cidrAllocator struct {
	base netip.Prefix
	bits int
	used map[netip.Prefix]bool
	n    uint64 // the next candidate index
}

func newCIDRAllocator(cidr string, bits int) (*cidrAllocator, error) {
	if bits == 0 {
		bits = 24
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("pod CIDR %q: not an IPv4 prefix such as 10.244.0.0/16", cidr)
	}
	if bits < p.Bits() || bits > 30 {
		return nil, fmt.Errorf("pod CIDR %s: node subnets of /%d do not fit in it (the node mask must be between /%d and /30)", cidr, bits, p.Bits())
	}
	return &cidrAllocator{base: p.Masked(), bits: bits, used: map[netip.Prefix]bool{}}, nil
}

// use marks a subnet as taken ("" and foreign prefixes are ignored).
func (a *cidrAllocator) use(s string) {
	if p, err := netip.ParsePrefix(s); err == nil {
		a.used[p.Masked()] = true
	}
}

// next returns a free subnet and takes it, or "" when the range is full.
func (a *cidrAllocator) next() string {
	count := uint64(1) << (a.bits - a.base.Bits())
	base := a.base.Addr().As4()
	b := uint64(base[0])<<24 | uint64(base[1])<<16 | uint64(base[2])<<8 | uint64(base[3])
	for ; a.n < count; a.n++ {
		v := b + a.n<<(32-a.bits)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), a.bits)
		if !a.used[p] {
			a.used[p] = true
			return p.String()
		}
	}
	return ""
}
