package turnserver

import (
	"net"
	"net/netip"
)

// Address ranges a relay refuses to reach unless Config.AllowedPeers
// lists them, besides loopback, private (RFC 1918, fc00::/7) and
// link-local addresses: they lead into the network the server runs in
// rather than to WebRTC peers on the internet (coturn's recommended
// denied-peer-ip list).
var restrictedPeerRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// localPeerRanges are the ranges allowed by default when the server
// advertises a loopback, private or link-local address itself (a server
// for one machine or a private network): every non-public unicast range.
var localPeerRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// peerPolicy decides which peer addresses clients may relay to.
type peerPolicy struct {
	allowed []netip.Prefix
	own     map[netip.Addr]bool // this host's addresses
}

// newPeerPolicy returns the policy for cfg (after withDefaults), with own
// as this host's addresses.
func newPeerPolicy(cfg Config, own []netip.Addr) *peerPolicy {
	p := &peerPolicy{allowed: cfg.AllowedPeers, own: make(map[netip.Addr]bool)}
	if p.allowed == nil && !isPublic(cfg.PublicIP) {
		p.allowed = localPeerRanges
	}
	for _, ip := range []net.IP{cfg.RelayIP, cfg.PublicIP} {
		if a, ok := netip.AddrFromSlice(ip); ok && !a.Unmap().IsUnspecified() {
			own = append(own, a)
		}
	}
	for _, a := range own {
		p.own[a.Unmap()] = true
	}
	return p
}

// isPublic reports whether ip is a global unicast address outside the
// private and shared ranges.
func isPublic(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !inAny(a, localPeerRanges) && !inAny(a, restrictedPeerRanges)
}

// permit reports whether a client may relay to ip. Unspecified, multicast
// and broadcast addresses are always refused; loopback, private,
// link-local and reserved ones and this host's own addresses only unless
// an allowed range holds them.
func (p *peerPolicy) permit(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	switch {
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false
	case inAny(a, p.allowed):
		return true
	case a.IsLoopback(), a.IsPrivate(), a.IsLinkLocalUnicast(), inAny(a, restrictedPeerRanges), p.own[a]:
		return false
	}
	return true
}

func inAny(a netip.Addr, ranges []netip.Prefix) bool {
	for _, r := range ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// hostAddrs returns the addresses of this host's interfaces.
func hostAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
