package turnserver

import (
	"encoding/binary"
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
//
// With an inspector, it also passes every frame of its connections through
// it (see Server.inspect), closes a connection that has not sent an
// authenticated request within authTimeout of its accept, and refuses
// connections beyond maxUnauth not yet authenticated.
type trackingListener struct {
	net.Listener
	log         *slog.Logger
	inspect     inspectFunc // nil: frames are not looked at
	authTimeout time.Duration
	maxUnauth   int
	done        chan struct{} // closed by Close or closeConns
	doneOnce    sync.Once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	unauth int // connections not yet authenticated
	closed bool
}

// inspectFunc is Server.inspect.
type inspectFunc func(frame []byte, src, local net.Addr, wantAuth bool, reply func([]byte)) (pass, authed bool)

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
			tc, err := l.track(c)
			if errors.Is(err, errTooManyUnauthenticated) {
				continue
			}
			return tc, err
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
	tc := &trackedConn{Conn: c, l: l, authed: l.inspect == nil}
	if !tc.authed {
		if l.unauth >= l.maxUnauth {
			c.Close()
			l.log.Warn("TURN connection refused: too many unauthenticated connections", "src", c.RemoteAddr(), "max", l.maxUnauth)
			return nil, errTooManyUnauthenticated
		}
		l.unauth++
		tc.timer = time.AfterFunc(l.authTimeout, tc.authExpired)
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// authenticated notes that tc sent an authenticated request.
func (l *trackingListener) authenticated(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !tc.authed {
		tc.authed = true
		tc.timer.Stop()
		l.unauth--
	}
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

// trackedConn removes itself from its listener when closed. With an
// inspector, Read hands out whole TURN frames that passed it.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once

	// Guarded by l.mu.
	authed bool
	timer  *time.Timer

	// Used by Read only (pion/turn reads from one goroutine).
	rbuf []byte
	in   []byte // received, not yet a whole frame
	out  []byte // whole frames that passed, not yet read
	err  error  // from the last read of Conn
}

// maxFrame bounds a TURN frame over TCP: a STUN message or a ChannelData
// message, each at most 64 KiB plus its header.
const maxFrame = 20 + 0xFFFF + 3

// Read implements net.Conn.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.l.inspect == nil {
		return c.Conn.Read(p)
	}
	for len(c.out) == 0 {
		c.filter()
		if len(c.out) > 0 {
			break
		}
		if c.err != nil {
			return 0, c.err
		}
		if c.rbuf == nil {
			c.rbuf = make([]byte, 4096)
		}
		n, err := c.Conn.Read(c.rbuf)
		c.in = append(c.in, c.rbuf[:n]...)
		c.err = err
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// filter moves the whole frames of in that pass the inspector to out.
func (c *trackedConn) filter() {
	for {
		n := frameLen(c.in)
		if n < 0 || len(c.in) > maxFrame {
			// Not TURN framing: hand the bytes over as they are and let
			// pion/turn refuse them.
			c.out, c.in = append(c.out, c.in...), nil
			return
		}
		if n == 0 || n > len(c.in) {
			return
		}
		frame := c.in[:n]
		pass, authed := c.l.inspect(frame, c.Conn.RemoteAddr(), c.Conn.LocalAddr(), !c.isAuthed(), c.reply)
		if authed {
			c.l.authenticated(c)
		}
		if pass {
			c.out = append(c.out, frame...)
		}
		c.in = c.in[n:]
	}
}

func (c *trackedConn) isAuthed() bool {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.authed
}

func (c *trackedConn) reply(b []byte) { _, _ = c.Conn.Write(b) }

// authExpired closes c if it has not authenticated by now.
func (c *trackedConn) authExpired() {
	if !c.isAuthed() {
		c.l.log.Info("TURN connection closed: no authenticated request in time", "src", c.RemoteAddr(), "timeout", c.l.authTimeout)
		c.Close()
	}
}

// frameLen returns the length of the TURN frame b starts with (RFC 8656
// section 11.5: ChannelData is padded to 4 bytes over TCP), 0 when b is too
// short to tell, or -1 when b starts with neither a STUN nor a ChannelData
// message.
func frameLen(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	switch b[0] >> 6 {
	case 0: // STUN
		return 20 + n
	case 1: // ChannelData
		return 4 + (n+3)&^3
	}
	return -1
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if !c.authed {
			c.authed = true // counted out once
			c.l.unauth--
			if c.timer != nil {
				c.timer.Stop()
			}
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
