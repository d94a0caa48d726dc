package turnserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/openkvs/openkvs/internal/pionlog"
)

var testSecret = []byte("0123456789abcdef-test-secret")

// fakeClock is a settable clock for credential expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServer is a Server on loopback sockets.
type testServer struct {
	*Server
	clock   *fakeClock
	udpAddr string
	tcpAddr string
	tlsAddr string
	tlsConf *tls.Config // client side, trusting the server certificate
}

type serverOption func(*Config)

// startServer starts a Server on 127.0.0.1 with one UDP socket, one TCP and
// one TLS listener, closed at the end of the test.
func startServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := tlsConfigs(t)
	tlsL, err := tls.Listen("tcp4", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	cfg := Config{
		Secret:       testSecret,
		UDPConns:     []net.PacketConn{udp},
		TCPListeners: []net.Listener{tcp},
		TLSListeners: []net.Listener{tlsL},
		Now:          clock.Now,
		Logger:       testLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	udpAddr := udp.LocalAddr().String()
	if len(cfg.UDPConns) == 0 || cfg.UDPConns[0] != udp {
		// An option brought its own sockets.
		udp.Close()
		udpAddr = ""
		if len(cfg.UDPConns) > 0 {
			udpAddr = cfg.UDPConns[0].LocalAddr().String()
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testServer{
		Server:  s,
		clock:   clock,
		udpAddr: udpAddr,
		tcpAddr: tcp.Addr().String(),
		tlsAddr: tlsL.Addr().String(),
		tlsConf: clientTLS,
	}
}

// testLogger logs to the test at warning level and above, until the test
// ends: pion/turn's client goroutines (a channel bind started by a write)
// may still log after it.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// tlsConfigs returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and a client config trusting it.
func tlsConfigs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "openkvs test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}

// startEchoPeer starts a UDP peer on 127.0.0.1 that sends every datagram
// back to its sender.
func startEchoPeer(t testing.TB) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c.LocalAddr().(*net.UDPAddr)
}

// newClient returns a pion TURN client talking to ts over transport
// ("udp", "tcp" or "tls") with the given credential.
func newClient(t testing.TB, ts *testServer, transport, username, password string) (*turn.Client, net.PacketConn) {
	t.Helper()
	var (
		conn net.PacketConn
		addr string
	)
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = c, ts.udpAddr
	case "tcp":
		c, err := net.Dial("tcp4", ts.tcpAddr)
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), ts.tcpAddr
	case "tls":
		c, err := tls.Dial("tcp4", ts.tlsAddr, ts.tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), ts.tlsAddr
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
		RTO:            100 * time.Millisecond,
		LoggerFactory:  pionlog.New(testLogger(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		conn.Close()
	})
	return cl, conn
}

// turnErrorCode returns the STUN error code carried by err, or 0.
func turnErrorCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// echo sends msg through relay to peer and returns what comes back.
func echo(t testing.TB, relay net.PacketConn, peer net.Addr, msg []byte) ([]byte, net.Addr) {
	t.Helper()
	if _, err := relay.WriteTo(msg, peer); err != nil {
		t.Fatalf("relay write: %v", err)
	}
	if err := relay.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("relay read: %v", err)
	}
	return buf[:n], from
}

// waitAllocations waits until the server holds n allocations.
func waitAllocations(t testing.TB, s *Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.quota.waitLive(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// waitIdle waits until the server holds no allocation.
func waitIdle(t testing.TB, s *Server) {
	t.Helper()
	waitAllocations(t, s, 0)
}
