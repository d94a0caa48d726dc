package turnserver

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first n Accept calls with EMFILE, as a listener
// does when the process runs out of file descriptors.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
	calls int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	fail := l.calls <= l.fails
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptRetriesAfterErrors: a TCP listener whose Accept fails a few
// times (EMFILE) keeps serving; pion/turn alone stops accepting for good.
func TestAcceptRetriesAfterErrors(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: inner, fails: 3}
	ts := startServer(t, func(c *Config) {
		c.TCPListeners[0].Close()
		c.TCPListeners = []net.Listener{flaky}
	})
	ts.tcpAddr = inner.Addr().String()
	peer := startEchoPeer(t)
	for i := range 2 {
		user, pass, _ := ts.Credentials(fmt.Sprintf("client-%d", i), time.Minute)
		cl, _ := newClient(t, ts, "tcp", user, pass)
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("Allocate after accept errors: %v", err)
		}
		if got, _ := echo(t, relay, peer, []byte("hello")); string(got) != "hello" {
			t.Fatalf("echo = %q", got)
		}
		relay.Close()
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if flaky.calls < flaky.fails+2 {
		t.Fatalf("Accept called %d times, want at least %d", flaky.calls, flaky.fails+2)
	}
}

// TestAcceptBackoffEndsOnClose: Close does not wait out a backoff.
func TestAcceptBackoffEndsOnClose(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTrackingListener(&flakyListener{Listener: inner, fails: 1 << 30}, testLogger(t))
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("Accept on a closed listener returned no error")
	}
}
