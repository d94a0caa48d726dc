package turnserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// Lifetimes of permissions and channel bindings (RFC 8656 sections 9 and
// 12); a client refreshes them before they run out.
const (
	permissionLifetime = 5 * time.Minute
	channelLifetime    = 10 * time.Minute
)

// allocUse is what one allocation holds: its permissions (by peer IP) and
// channel bindings (by number), each with its expiry.
type allocUse struct {
	perms map[netip.Addr]time.Time
	chans map[uint16]time.Time
}

// allocLimits caps the permissions and channel bindings of each
// allocation; pion/turn has no such cap.
type allocLimits struct {
	now      func() time.Time
	maxPerms int
	maxChans int

	mu     sync.Mutex
	allocs map[string]*allocUse // by allocKey
}

func newAllocLimits(now func() time.Time, maxPerms, maxChans int) *allocLimits {
	return &allocLimits{now: now, maxPerms: maxPerms, maxChans: maxChans, allocs: make(map[string]*allocUse)}
}

// allocKey identifies an allocation by its client and server transport
// addresses, as pion/turn does.
func allocKey(src, local net.Addr) string { return addrKey(src) + "|" + addrKey(local) }

// admit records the permissions for peers and the channel binding ch (0
// for none) of allocation k, or reports false when that would pass a cap.
// Refreshing what the allocation already holds is always admitted.
func (l *allocLimits) admit(k string, peers []netip.Addr, ch uint16) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.allocs[k]
	if u == nil {
		u = &allocUse{perms: make(map[netip.Addr]time.Time), chans: make(map[uint16]time.Time)}
		l.allocs[k] = u
	}
	for ip, exp := range u.perms {
		if now.After(exp) {
			delete(u.perms, ip)
		}
	}
	for c, exp := range u.chans {
		if now.After(exp) {
			delete(u.chans, c)
		}
	}
	newPerms := 0
	for i, ip := range peers {
		if _, ok := u.perms[ip]; !ok && !contains(peers[:i], ip) {
			newPerms++
		}
	}
	if len(u.perms)+newPerms > l.maxPerms {
		return false
	}
	if _, ok := u.chans[ch]; ch != 0 && !ok && len(u.chans) >= l.maxChans {
		return false
	}
	for _, ip := range peers {
		u.perms[ip] = now.Add(permissionLifetime)
	}
	if ch != 0 {
		u.chans[ch] = now.Add(channelLifetime)
	}
	return true
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// count returns the number of allocations remembered.
func (l *allocLimits) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.allocs)
}

// drop forgets allocation k.
func (l *allocLimits) drop(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.allocs, k)
}

// inspect looks at one TURN frame from src, received on local, before
// pion/turn handles it. It answers itself, and reports pass false, a
// CreatePermission or ChannelBind that names a peer the policy refuses (403
// Forbidden) or that would pass the allocation's caps (508 Insufficient
// Capacity). With wantAuth, any request is checked for a valid credential
// of ours, reported as authed; otherwise only those two. reply sends a
// message back to src.
func (s *Server) inspect(frame []byte, src, local net.Addr, wantAuth bool, reply func([]byte)) (pass, authed bool) {
	// ChannelData (first two bits 01) and anything but a request.
	if len(frame) < 20 || frame[0]&0xC0 != 0 {
		return true, false
	}
	var mt stun.MessageType
	mt.ReadValue(binary.BigEndian.Uint16(frame[0:2]))
	peerRequest := mt.Method == stun.MethodCreatePermission || mt.Method == stun.MethodChannelBind
	if mt.Class != stun.ClassRequest || (!peerRequest && !wantAuth) {
		return true, false
	}
	m := &stun.Message{Raw: append([]byte(nil), frame...)}
	if err := m.Decode(); err != nil {
		return true, false
	}
	var (
		user  stun.Username
		realm stun.Realm
	)
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return true, false
	}
	key, ok := s.authenticate(user.String(), realm.String(), src)
	if !ok || stun.MessageIntegrity(key).Check(m) != nil {
		return true, false
	}
	if !peerRequest {
		return true, true
	}
	if !s.quota.owns(src, user.String()) {
		return true, true // no allocation: pion/turn answers
	}
	var peers []netip.Addr
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORPeerAddress {
			continue
		}
		var pa stun.XORMappedAddress
		one := &stun.Message{TransactionID: m.TransactionID, Attributes: stun.Attributes{a}}
		if pa.GetFromAs(one, stun.AttrXORPeerAddress) != nil {
			return true, true // malformed: pion/turn answers 400
		}
		if !s.peers.permit(pa.IP) {
			s.log.Info("TURN peer refused", "src", src, "peer", pa.IP, "user", user.String())
			s.refuse(m, mt.Method, stun.CodeForbidden, key, reply)
			return false, true
		}
		ip, _ := netip.AddrFromSlice(pa.IP)
		peers = append(peers, ip.Unmap())
	}
	var ch uint16
	if mt.Method == stun.MethodChannelBind {
		v, err := m.Get(stun.AttrChannelNumber)
		if err != nil || len(v) < 2 {
			return true, true
		}
		ch = binary.BigEndian.Uint16(v)
	}
	if !s.limits.admit(allocKey(src, local), peers, ch) {
		s.log.Info("TURN permission or channel refused: allocation cap reached", "src", src, "method", mt.Method.String(), "user", user.String())
		s.refuse(m, mt.Method, stun.CodeInsufficientCapacity, key, reply)
		return false, true
	}
	return true, true
}

// refuse answers req with an error response signed with key.
func (s *Server) refuse(req *stun.Message, method stun.Method, code stun.ErrorCode, key []byte, reply func([]byte)) {
	resp, err := stun.Build(
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.NewType(method, stun.ClassErrorResponse),
		code,
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err != nil {
		s.log.Debug("TURN error response", "err", err)
		return
	}
	reply(resp.Raw)
}

// guardedPacketConn is a UDP socket whose datagrams pass Server.inspect
// before pion/turn reads them.
type guardedPacketConn struct {
	net.PacketConn
	s *Server
}

// ReadFrom implements net.PacketConn.
func (c *guardedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		reply := func(b []byte) { _, _ = c.PacketConn.WriteTo(b, addr) }
		if pass, _ := c.s.inspect(p[:n], addr, c.PacketConn.LocalAddr(), false, reply); pass {
			return n, addr, nil
		}
	}
}
