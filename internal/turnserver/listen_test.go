package turnserver

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestListenUDPReusePort(t *testing.T) {
	conns, err := ListenUDP(context.Background(), "udp4", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	want := 4
	if !reusePortSupported {
		want = 1
	}
	if len(conns) != want {
		t.Fatalf("%d sockets, want %d", len(conns), want)
	}
	addr := conns[0].LocalAddr().String()
	for _, c := range conns[1:] {
		if c.LocalAddr().String() != addr {
			t.Fatalf("socket on %v, want %v", c.LocalAddr(), addr)
		}
	}

	// A server on all of them relays for clients whichever socket the
	// kernel hands them to.
	ts := startServer(t, func(c *Config) { c.UDPConns = conns })
	peer := startEchoPeer(t)
	for i := range 8 {
		user, pass, _ := ts.Credentials("c", time.Minute)
		cl, _ := newClient(t, ts, "udp", user, pass)
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("client %d: Allocate: %v", i, err)
		}
		if got, _ := echo(t, relay, peer, []byte("x")); string(got) != "x" {
			t.Fatalf("client %d: echo %q", i, got)
		}
		relay.Close()
	}
}

func TestListenUDPBusyPort(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The port is held without SO_REUSEPORT, so joining it must fail.
	if conns, err := ListenUDP(context.Background(), "udp4", c.LocalAddr().String(), 2); err == nil {
		for _, c := range conns {
			c.Close()
		}
		t.Fatal("ListenUDP on a busy port succeeded")
	}
}
