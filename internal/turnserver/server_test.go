package turnserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRelayToEchoPeer(t *testing.T) {
	ts := startServer(t)
	peer := startEchoPeer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			user, pass, _ := ts.Credentials("viewer-"+transport, time.Minute)
			cl, _ := newClient(t, ts, transport, user, pass)
			relay, err := cl.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			ra := relay.LocalAddr().(*net.UDPAddr)
			if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port == 0 {
				t.Errorf("relayed address = %v, want 127.0.0.1:port", ra)
			}
			if got := ts.Stats(); got.Allocations != 1 || got.Clients != 1 {
				t.Errorf("Stats = %+v, want 1 allocation of 1 client", got)
			}
			// The first write creates the permission; later ones may go
			// over a channel binding.
			for i := range 5 {
				msg := fmt.Appendf(nil, "hello %s %d", transport, i)
				got, from := echo(t, relay, peer, msg)
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo = %q, want %q", got, msg)
				}
				if from.String() != peer.String() {
					t.Fatalf("echo from %v, want %v", from, peer)
				}
			}
			if err := relay.Close(); err != nil {
				t.Fatalf("close relay: %v", err)
			}
			waitIdle(t, ts.Server)
		})
	}
}

func TestSTUNBinding(t *testing.T) {
	ts := startServer(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			// STUN needs no credential.
			cl, conn := newClient(t, ts, transport, "", "")
			mapped, err := cl.SendBindingRequest()
			if err != nil {
				t.Fatalf("binding: %v", err)
			}
			local := conn.LocalAddr().String()
			if mapped.String() != local {
				t.Errorf("mapped address = %v, want %v", mapped, local)
			}
		})
	}
}

func TestAllocateRefused(t *testing.T) {
	ts := startServer(t)
	now := ts.clock.Now()
	validUser, validPass := MintCredential(testSecret, "c", now.Add(time.Minute))
	expiredUser, expiredPass := MintCredential(testSecret, "c", now.Add(-time.Second))
	otherUser, otherPass := MintCredential([]byte("another-secret-of-16+bytes"), "c", now.Add(time.Minute))

	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"valid", validUser, validPass, true},
		{"expired", expiredUser, expiredPass, false},
		{"wrong password", validUser, validPass + "x", false},
		{"other secret", otherUser, otherPass, false},
		{"no expiry", "c", validPass, false},
		{"tampered client id", strings.Replace(validUser, ":c", ":d", 1), validPass, false},
		{"tampered expiry", fmt.Sprint(now.Add(time.Hour).Unix()) + ":c", validPass, false},
	}
	for _, transport := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				cl, _ := newClient(t, ts, transport, tt.user, tt.pass)
				relay, err := cl.Allocate()
				if tt.ok {
					if err != nil {
						t.Fatalf("Allocate: %v", err)
					}
					relay.Close()
					return
				}
				if err == nil {
					relay.Close()
					t.Fatal("Allocate succeeded, want refusal")
				}
				// pion/turn answers a failed authentication with 400.
				if code := turnErrorCode(err); code != 400 && code != 401 {
					t.Fatalf("Allocate error = %v (code %d), want 400 or 401", err, code)
				}
			})
		}
	}
}

func TestCredentialExpiresWithClock(t *testing.T) {
	ts := startServer(t)
	peer := startEchoPeer(t)
	user, pass, expires := ts.Credentials("master", 300*time.Second)
	if want := ts.clock.Now().Add(300 * time.Second); !expires.Equal(want) {
		t.Fatalf("expires = %v, want %v", expires, want)
	}

	// An allocation opened before expiry...
	cl, _ := newClient(t, ts, "udp", user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()

	ts.clock.Advance(301 * time.Second)

	// ...keeps working: new permissions and refreshes are authenticated
	// with the now expired credential.
	if err := cl.CreatePermission(peer); err != nil {
		t.Fatalf("CreatePermission after expiry on an existing allocation: %v", err)
	}
	if got, _ := echo(t, relay, peer, []byte("still here")); string(got) != "still here" {
		t.Fatalf("echo = %q", got)
	}

	// A new allocation with the same credential is refused.
	cl2, _ := newClient(t, ts, "udp", user, pass)
	if relay2, err := cl2.Allocate(); err == nil {
		relay2.Close()
		t.Fatal("Allocate with an expired credential succeeded")
	}
}

func TestAllocationCaps(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxAllocationsPerClient = 2
		c.MaxAllocations = 3
	})
	allocate := func(clientID string) (net.PacketConn, error) {
		// A fresh credential each time: the cap is per client id, not
		// per credential.
		user, pass, _ := ts.Credentials(clientID, time.Minute)
		cl, _ := newClient(t, ts, "udp", user, pass)
		return cl.Allocate()
	}
	steps := []struct {
		clientID string
		want     int // 0 = success, else STUN error code
	}{
		{"a", 0},
		{"a", 0},
		{"a", 486}, // per-client cap
		{"b", 0},
		{"b", 486}, // total cap
		{"c", 486}, // total cap
	}
	var relays []net.PacketConn
	for i, st := range steps {
		relay, err := allocate(st.clientID)
		switch {
		case st.want == 0 && err != nil:
			t.Fatalf("step %d (%s): Allocate: %v", i, st.clientID, err)
		case st.want == 0:
			relays = append(relays, relay)
		case err == nil:
			t.Fatalf("step %d (%s): Allocate succeeded, want %d", i, st.clientID, st.want)
		case turnErrorCode(err) != st.want:
			t.Fatalf("step %d (%s): error %v, want code %d", i, st.clientID, err, st.want)
		}
	}
	if got := ts.Stats(); got.Allocations != 3 || got.Clients != 2 {
		t.Fatalf("Stats = %+v, want 3 allocations of 2 clients", got)
	}

	// Releasing one of a's allocations makes room again.
	relays[0].Close()
	waitAllocations(t, ts.Server, 2)
	relay, err := allocate("c")
	if err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	relay.Close()
	for _, r := range relays[1:] {
		r.Close()
	}
	waitIdle(t, ts.Server)
	if got := ts.Stats(); got.Clients != 0 {
		t.Fatalf("Stats after release = %+v, want no clients", got)
	}
}

func TestCloseEndsAllocations(t *testing.T) {
	ts := startServer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		user, pass, _ := ts.Credentials("c-"+transport, time.Minute)
		cl, _ := newClient(t, ts, transport, user, pass)
		if _, err := cl.Allocate(); err != nil {
			t.Fatalf("%s Allocate: %v", transport, err)
		}
	}
	if got := ts.Stats().Allocations; got != 3 {
		t.Fatalf("allocations = %d, want 3", got)
	}
	if err := ts.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := ts.Stats(); got.Allocations != 0 || got.Clients != 0 {
		t.Fatalf("Stats after Close = %+v, want zero", got)
	}
	if err := ts.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPermitPeer(t *testing.T) {
	public := Config{RelayIP: net.IPv4(127, 0, 0, 1), PublicIP: net.IPv4(203, 0, 113, 5)}
	local := Config{RelayIP: net.IPv4(127, 0, 0, 1), PublicIP: net.IPv4(127, 0, 0, 1)}
	lan := Config{RelayIP: net.IPv4(192, 168, 1, 5), PublicIP: net.IPv4(192, 168, 1, 5)}
	allowLoop := public
	allowLoop.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("203.0.113.5/32")}
	none := local
	none.AllowedPeers = []netip.Prefix{}
	own := []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	tests := []struct {
		name string
		cfg  Config
		peer string
		want bool
	}{
		{"public server, public peer", public, "192.0.2.10", true},
		{"public server, public IPv6 peer", public, "2001:db8::1", true},
		{"public server, RFC 1918", public, "10.1.2.3", false},
		{"public server, RFC 1918 172.16/12", public, "172.20.0.1", false},
		{"public server, RFC 1918 192.168/16", public, "192.168.0.1", false},
		{"public server, loopback", public, "127.0.0.1", false},
		{"public server, IPv6 loopback", public, "::1", false},
		{"public server, link-local", public, "169.254.169.254", false},
		{"public server, IPv6 link-local", public, "fe80::1", false},
		{"public server, IPv6 ULA", public, "fd00::1", false},
		{"public server, CGNAT", public, "100.64.0.1", false},
		{"public server, mapped loopback", public, "::ffff:127.0.0.1", false},
		{"public server, its public IP", public, "203.0.113.5", false},
		{"public server, an interface address", public, "198.51.100.7", false},
		{"allowed loopback", allowLoop, "127.0.0.1", true},
		{"allowed own IP", allowLoop, "203.0.113.5", true},
		{"allowed loopback, RFC 1918 still refused", allowLoop, "10.1.2.3", false},
		{"local server, loopback", local, "127.0.0.1", true},
		{"local server, RFC 1918", local, "10.1.2.3", true},
		{"local server, public", local, "192.0.2.10", true},
		{"LAN server, LAN peer", lan, "192.168.1.20", true},
		{"LAN server, itself", lan, "192.168.1.5", true},
		{"empty allow list, loopback", none, "127.0.0.1", false},
		{"unspecified", local, "0.0.0.0", false},
		{"multicast", local, "224.0.0.1", false},
		{"broadcast", local, "255.255.255.255", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeerPolicy(tt.cfg, own)
			if got := p.permit(net.ParseIP(tt.peer)); got != tt.want {
				t.Errorf("permit(%s) = %v, want %v", tt.peer, got, tt.want)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	udp := func(t *testing.T, addr string) net.PacketConn {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	tests := []struct {
		name   string
		addr   string
		modify func(*Config)
		want   error
	}{
		{"no secret", "127.0.0.1:0", func(c *Config) { c.Secret = nil }, ErrNoSecret},
		{"short secret", "127.0.0.1:0", func(c *Config) { c.Secret = []byte("short") }, ErrShortSecret},
		{"no sockets", "127.0.0.1:0", func(c *Config) { c.UDPConns = nil }, ErrNoListeners},
		{"unspecified without public IP", "0.0.0.0:0", nil, ErrPublicIPRequired},
		{"ipv6 public IP", "127.0.0.1:0", func(c *Config) { c.PublicIP = net.ParseIP("2001:db8::1") }, ErrRelayNotIPv4},
		{"too many hosts", "127.0.0.1:0", func(c *Config) { c.Hosts = []string{"a", "b", "c", "d", "e", "f"} }, ErrTooManyHosts},
		{"TTL too short", "127.0.0.1:0", func(c *Config) { c.CredentialTTL = time.Second }, ErrCredentialTTL},
		{"negative cap", "127.0.0.1:0", func(c *Config) { c.MaxAllocations = -1 }, ErrNegativeLimit},
		{"bad port range", "127.0.0.1:0", func(c *Config) { c.RelayMinPort, c.RelayMaxPort = 50000, 40000 }, ErrRelayPortRange},
		{"unspecified with public IP", "0.0.0.0:0", func(c *Config) { c.PublicIP = net.IPv4(192, 0, 2, 1) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Secret: testSecret, UDPConns: []net.PacketConn{udp(t, tt.addr)}}
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			s, err := New(cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New error = %v, want %v", err, tt.want)
			}
			if s != nil {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRelayPortRange(t *testing.T) {
	// Find two free consecutive-ish ports by letting the OS pick one.
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	ts := startServer(t, func(c *Config) { c.RelayMinPort, c.RelayMaxPort = port, port })
	user, pass, _ := ts.Credentials("ranged", time.Minute)
	cl, _ := newClient(t, ts, "udp", user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	if got := relay.LocalAddr().(*net.UDPAddr).Port; got != port {
		t.Fatalf("relay port = %d, want %d", got, port)
	}
	// The range is exhausted: the next allocation gets 508.
	user2, pass2, _ := ts.Credentials("ranged2", time.Minute)
	cl2, _ := newClient(t, ts, "udp", user2, pass2)
	if r, err := cl2.Allocate(); err == nil {
		r.Close()
		t.Fatal("second Allocate in a one-port range succeeded")
	} else if code := turnErrorCode(err); code != 508 {
		t.Fatalf("second Allocate: %v (code %d), want 508", err, code)
	}
	if got := ts.Stats().Allocations; got != 1 {
		t.Fatalf("allocations = %d, want 1 (the failed one must not count)", got)
	}
}
