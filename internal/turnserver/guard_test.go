package turnserver

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
)

// allocate opens an allocation on ts over transport, closed at the end of
// the test.
func allocate(t *testing.T, ts *testServer, transport string) (*turn.Client, net.PacketConn) {
	t.Helper()
	user, pass, _ := ts.Credentials("c", time.Minute)
	cl, _ := newClient(t, ts, transport, user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { relay.Close() })
	return cl, relay
}

// publicServer advertises a public address, so that the peer policy
// refuses loopback peers unless allowed.
func publicServer(c *Config) { c.PublicIP = net.IPv4(203, 0, 113, 5) }

// TestForbiddenPeer: a server that advertises a public address refuses to
// relay to loopback (the host's own services) with 403, over every
// transport, unless AllowedPeers lists the range.
func TestForbiddenPeer(t *testing.T) {
	peer := startEchoPeer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			cl, _ := allocate(t, startServer(t, publicServer), transport)
			err := cl.CreatePermission(peer)
			if code := turnErrorCode(err); code != int(stun.CodeForbidden) {
				t.Fatalf("CreatePermission(%v) = %v (code %d), want 403", peer, err, code)
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		ts := startServer(t, publicServer, func(c *Config) {
			c.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		_, relay := allocate(t, ts, "udp")
		if got, _ := echo(t, relay, peer, []byte("allowed")); string(got) != "allowed" {
			t.Fatalf("echo = %q", got)
		}
	})
}

// TestPermissionCap: an allocation holds at most MaxPermissionsPerAllocation
// peer IPs; one more gets 508, refreshing held ones still works, and a new
// allocation starts afresh.
func TestPermissionCap(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, func(c *Config) { c.MaxPermissionsPerAllocation = 3 })
			cl, relay := allocate(t, ts, transport)
			peer := func(i byte) net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, i), Port: 9} }
			if err := cl.CreatePermission(peer(2), peer(3)); err != nil {
				t.Fatal(err)
			}
			if err := cl.CreatePermission(peer(4)); err != nil {
				t.Fatal(err)
			}
			if err := cl.CreatePermission(peer(5)); turnErrorCode(err) != int(stun.CodeInsufficientCapacity) {
				t.Fatalf("fourth peer: %v, want 508", err)
			}
			if err := cl.CreatePermission(peer(2), peer(4)); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			// Time passes: the permissions lapse and make room.
			ts.clock.Advance(permissionLifetime + time.Second)
			if err := cl.CreatePermission(peer(5), peer(6), peer(7)); err != nil {
				t.Fatalf("after expiry: %v", err)
			}
			relay.Close()
			waitIdle(t, ts.Server)
			if n := ts.limits.count(); n != 0 {
				t.Fatalf("%d allocations remembered after deletion", n)
			}
		})
	}
}

// TestChannelCap: an allocation holds at most MaxChannelsPerAllocation
// channel bindings; one more gets 508, rebinding a held one still works.
func TestChannelCap(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxChannelsPerAllocation = 2 })
	user, pass, _ := ts.Credentials("c", time.Minute)
	cl, _ := allocate(t, ts, "udp")
	srv, _ := net.ResolveUDPAddr("udp4", ts.udpAddr)
	bind := func(ch uint16, port int) int {
		t.Helper()
		peer := stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: port}
		return authedRequest(t, cl, srv, user, pass, stun.MethodChannelBind,
			channelNumber(ch), setterFunc(func(m *stun.Message) error { return peer.AddToAs(m, stun.AttrXORPeerAddress) }))
	}
	if code := bind(0x4000, 1000); code != 0 {
		t.Fatalf("first bind: %d", code)
	}
	if code := bind(0x4001, 1001); code != 0 {
		t.Fatalf("second bind: %d", code)
	}
	if code := bind(0x4002, 1002); code != int(stun.CodeInsufficientCapacity) {
		t.Fatalf("third bind: %d, want 508", code)
	}
	if code := bind(0x4001, 1001); code != 0 {
		t.Fatalf("rebind: %d", code)
	}
}

// TestQuotaByKey: the allocation cap counts by QuotaKey, so new client ids
// under one key open no more allocations.
func TestQuotaByKey(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxAllocationsPerClient = 1
		c.QuotaKey = func(id string) string { k, _, _ := cutColon(id); return k }
	})
	allocate := func(clientID string) error {
		user, pass, _ := ts.Credentials(clientID, time.Minute)
		cl, _ := newClient(t, ts, "udp", user, pass)
		relay, err := cl.Allocate()
		if err == nil {
			t.Cleanup(func() { relay.Close() })
		}
		return err
	}
	if err := allocate("AKIA1:cam.viewer-1"); err != nil {
		t.Fatal(err)
	}
	if err := allocate("AKIA1:cam.viewer-2"); turnErrorCode(err) != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("second client id of one key: %v, want 486", err)
	}
	if err := allocate("AKIA2:cam.viewer-1"); err != nil {
		t.Fatalf("another key: %v", err)
	}
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestIdleUnauthenticatedConnections: a TCP or TLS connection that sends no
// authenticated request within AuthTimeout is closed, one that allocated
// is not, and connections beyond MaxUnauthenticatedConns are closed at
// once.
func TestIdleUnauthenticatedConnections(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.AuthTimeout = 100 * time.Millisecond
		c.MaxUnauthenticatedConns = 2
	})
	cl, _ := allocate(t, ts, "tcp")

	// Two idle connections fill the cap; a third is closed at once.
	idle1, idle2 := dialTCP(t, ts.tcpAddr), dialTCP(t, ts.tcpAddr)
	sendBinding(t, idle2) // STUN Binding needs no credential: still unauthenticated
	third := dialTCP(t, ts.tcpAddr)
	waitClosed(t, third, "connection beyond the cap")
	// The idle ones go after AuthTimeout, over TLS too (here: no handshake).
	waitClosed(t, dialTCP(t, ts.tlsAddr), "idle TLS connection")
	waitClosed(t, idle1, "idle connection")
	waitClosed(t, idle2, "connection that sent only a Binding request")
	// The authenticated one still serves.
	if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Fatalf("authenticated connection after the timeout: %v", err)
	}
	// Room again for new connections.
	c := dialTCP(t, ts.tcpAddr)
	if _, err := turn.NewSTUNConn(c).WriteTo(bindingRequest(t), nil); err != nil {
		t.Fatal(err)
	}
	readResponse(t, c)
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bindingRequest(t *testing.T) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func sendBinding(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write(bindingRequest(t)); err != nil {
		t.Fatal(err)
	}
	readResponse(t, c)
}

// readResponse reads one STUN message from c.
func readResponse(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 20)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read response: %v", err)
	}
	rest := make([]byte, int(buf[2])<<8|int(buf[3]))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("read response: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// waitClosed waits until the server closes c.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: still open (%v)", what, err)
	}
}

// authedRequest sends a request of method with setters over cl's
// connection, signed with the long-term credential (after fetching a
// nonce), and returns the error code of the answer, 0 for success.
func authedRequest(t *testing.T, cl *turn.Client, srv net.Addr, user, pass string, method stun.Method, setters ...stun.Setter) int {
	t.Helper()
	typ := stun.NewType(method, stun.ClassRequest)
	probe, err := stun.Build(append([]stun.Setter{stun.TransactionID, typ}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.PerformTransaction(probe, srv, false)
	if err != nil {
		t.Fatal(err)
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(res.Msg); err != nil {
		t.Fatalf("no nonce in %v", res.Msg)
	}
	all := append([]stun.Setter{stun.TransactionID, typ}, setters...)
	all = append(all, stun.NewUsername(user), stun.NewRealm(DefaultRealm), nonce,
		stun.NewLongTermIntegrity(user, DefaultRealm, pass), stun.Fingerprint)
	req, err := stun.Build(all...)
	if err != nil {
		t.Fatal(err)
	}
	res, err = cl.PerformTransaction(req, srv, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res.Msg); err != nil {
		t.Fatalf("error response without code: %v", res.Msg)
	}
	return int(code.Code)
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// channelNumber is a CHANNEL-NUMBER attribute.
func channelNumber(n uint16) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		m.Add(stun.AttrChannelNumber, []byte{byte(n >> 8), byte(n), 0, 0})
		return nil
	})
}
