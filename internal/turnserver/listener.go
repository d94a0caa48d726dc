package turnserver

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Backoff between failed Accept calls, as net/http's Server uses: a
// listener that fails (EMFILE, ENFILE, ENOBUFS) is retried after 5 ms,
// doubling up to 1 s, instead of being given up.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// trackingListener remembers accepted connections so that Close can end
// them, and keeps accepting through transient Accept errors: pion/turn stops
// serving a listener for good on the first error Accept returns.
type trackingListener struct {
	net.Listener
	log      *slog.Logger
	done     chan struct{} // closed by Close or closeConns
	doneOnce sync.Once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener, log *slog.Logger) *trackingListener {
	return &trackingListener{
		Listener: l,
		log:      log,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
}

// Accept implements net.Listener. It returns an error only once the
// listener is closed; other errors are logged and retried with backoff.
func (l *trackingListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return l.track(c)
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		l.log.Warn("TURN accept failed; retrying", "addr", l.Addr(), "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (l *trackingListener) track(c net.Conn) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// Close implements net.Listener; it also ends a backoff wait in Accept.
func (l *trackingListener) Close() error {
	l.doneOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// closeConns closes every accepted connection and makes Accept return.
func (l *trackingListener) closeConns() {
	l.doneOnce.Do(func() { close(l.done) })
	l.mu.Lock()
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// trackedConn removes itself from its listener when closed.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
