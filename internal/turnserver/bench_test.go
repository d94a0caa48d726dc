package turnserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// BenchmarkRelay measures relayed UDP throughput: each client sends
// datagrams through its allocation to a UDP echo peer on loopback, which
// sends them back through the relay (two relay hops per round trip). One op
// is one datagram echoed back; SetBytes counts its payload once. Up to
// `window` datagrams per client are in flight; datagrams not back within
// 200 ms count as lost (reported as loss_%).
//
// server=pion-bare is a bare pion/turn server with one socket and defaults,
// the baseline in BASELINES.md, measured in the same run for a ratio.
func BenchmarkRelay(b *testing.B) {
	for _, server := range []string{"openkvs", "openkvs-2sockets", "pion-bare"} {
		for _, clients := range []int{1, 8} {
			for _, size := range []int{200, 1000} {
				b.Run(fmt.Sprintf("server=%s/clients=%d/size=%d", server, clients, size), func(b *testing.B) {
					benchRelay(b, server, clients, size, 32)
				})
			}
		}
	}
}

func benchRelay(b *testing.B, server string, clients, size, window int) {
	var addr string
	switch server {
	case "openkvs", "openkvs-2sockets":
		ts := startServer(b, func(c *Config) {
			c.MaxAllocationsPerClient = clients
			if server == "openkvs-2sockets" {
				conns, err := ListenUDP(context.Background(), "udp4", "127.0.0.1:0", 2)
				if err != nil {
					b.Fatal(err)
				}
				c.UDPConns = conns
			}
		})
		addr = ts.udpAddr
		user, pass, _ := ts.Credentials("bench", time.Hour)
		benchClients(b, addr, user, pass, clients, size, window)
	case "pion-bare":
		addr = startBarePion(b)
		benchClients(b, addr, "bench", "bench", clients, size, window)
	}
}

// startBarePion starts pion/turn as its examples do: one UDP socket, a
// static relay address generator, default settings.
func startBarePion(b *testing.B) string {
	b.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = os.Stderr
	lf.DefaultLogLevel = logging.LogLevelWarn
	key := turn.GenerateAuthKey("bench", DefaultRealm, "bench")
	s, err := turn.NewServer(turn.ServerConfig{
		Realm:         DefaultRealm,
		LoggerFactory: lf,
		AuthHandler: func(username, _ string, _ net.Addr) ([]byte, bool) {
			return key, username == "bench"
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: udp,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.IPv4(127, 0, 0, 1),
				Address:      "127.0.0.1",
			},
		}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return udp.LocalAddr().String()
}

func benchClients(b *testing.B, addr, user, pass string, clients, size, window int) {
	peer := startEchoPeer(b)
	relays := make([]net.PacketConn, clients)
	for i := range relays {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		cl, err := turn.NewClient(&turn.ClientConfig{
			STUNServerAddr: addr, TURNServerAddr: addr, Conn: c,
			Username: user, Password: pass, Realm: DefaultRealm,
			LoggerFactory: logging.NewDefaultLoggerFactory(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Listen(); err != nil {
			b.Fatal(err)
		}
		relay, err := cl.Allocate()
		if err != nil {
			b.Fatalf("Allocate: %v", err)
		}
		b.Cleanup(func() {
			relay.Close()
			cl.Close()
			c.Close()
		})
		// Warm up: permission, then channel binding.
		for range 10 {
			echo(b, relay, peer, make([]byte, size))
		}
		relays[i] = relay
	}

	var received, lost atomic.Int64
	per := b.N/clients + 1
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, relay := range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, l := pump(relay, peer, per, size, window)
			received.Add(int64(r))
			lost.Add(int64(l))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	r, l := received.Load(), lost.Load()
	b.ReportMetric(float64(r)/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(r*int64(size))/elapsed.Seconds(), "bytes/s")
	b.ReportMetric(100*float64(l)/float64(r+l), "loss_%")
}

// pump sends n datagrams of size bytes through relay to peer with at most
// window in flight and returns how many came back and how many were lost.
func pump(relay net.PacketConn, peer net.Addr, n, size, window int) (received, lost int) {
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	go func() {
		payload := make([]byte, size)
		for range n {
			select {
			case <-credits:
			case <-stop:
				return
			}
			if _, err := relay.WriteTo(payload, peer); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	defer close(stop)
	buf := make([]byte, 2048)
	for received+lost < n {
		_ = relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := relay.ReadFrom(buf); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return received, n - received
			}
			out := int(sent.Load()) - received - lost
			if out == 0 && int(sent.Load()) == n {
				break
			}
			lost += out
			for range out {
				select {
				case credits <- struct{}{}:
				default:
				}
			}
			continue
		}
		received++
		select {
		case credits <- struct{}{}:
		default:
		}
	}
	return received, lost
}
