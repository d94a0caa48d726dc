// Package natstest starts a real NATS server inside a test process (the
// embeddable nats-server/v2), on 127.0.0.1 and a kernel-chosen port, for the
// tests of natsbus and of every component that runs over it.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the servers' max_payload: 8 MiB, room for live fragments
// (NATS' default is 1 MiB).
const MaxPayload = 8 << 20

// Options vary the server.
type Options struct {
	// JetStream enables JetStream with its store in a temporary directory.
	JetStream bool
}

// Server is a running NATS server.
type Server struct {
	*server.Server
}

// Start starts a NATS server and stops it when tb ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	o := &server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: MaxPayload,
	}
	if opts.JetStream {
		o.JetStream = true
		o.StoreDir = tb.TempDir()
	}
	ns, err := server.NewServer(o)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		tb.Fatal("natstest: server not ready within 10 s")
	}
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return &Server{ns}
}

// URL is the nats:// URL clients connect to.
func (s *Server) URL() string { return s.ClientURL() }
