package turnserver

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// byteConn is a net.Conn that reads data, a few bytes at a time.
type byteConn struct {
	net.Conn
	data  []byte
	chunk int
}

func (c *byteConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *byteConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1} }
func (c *byteConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *byteConn) Close() error         { return nil }

// FuzzTrackedConnFraming: whatever a TCP/TLS client sends, and however the
// bytes are split, a trackedConn whose inspector passes every frame hands
// pion/turn those bytes, all but an unfinished frame at the end (which
// pion/turn could not use either), and never panics.
func FuzzTrackedConnFraming(f *testing.F) {
	binding, _ := stun.Build(stun.TransactionID, stun.BindingRequest)
	f.Add(binding.Raw, 3)
	f.Add(append(append([]byte{0x40, 0x00, 0x00, 0x02, 'h', 'i', 0, 0}, binding.Raw...), 0x40, 0x01, 0x00, 0x05), 1)
	f.Add([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, 7) // a TLS ClientHello on the plain port
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk < 1 || chunk > 1<<16 {
			chunk = 1 + len(data)%5
		}
		l := newTrackingListener(nil, slog.New(slog.DiscardHandler))
		l.inspect = func([]byte, net.Addr, net.Addr, bool, func([]byte)) (bool, bool) { return true, false }
		l.authTimeout, l.maxUnauth = time.Hour, 1
		c := &trackedConn{Conn: &byteConn{data: append([]byte(nil), data...), chunk: chunk}, l: l, authed: true}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := bytes.CutPrefix(data, got)
		if !ok {
			t.Fatalf("read %x, not a prefix of %x", got, data)
		}
		if n := frameLen(rest); n > 0 && n <= len(rest) {
			t.Fatalf("read %x of %x: whole frame of %d bytes left", got, data, n)
		}
	})
}

// FuzzInspect: any datagram given to Server.inspect is passed or answered
// without a panic, and one that is not a STUN request always passes.
func FuzzInspect(f *testing.F) {
	ts := startServer(f)
	user, pass, _ := ts.Credentials("c", time.Minute)
	signed, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
		stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 9}, stun.NewUsername(user), stun.NewRealm(DefaultRealm),
		stun.NewLongTermIntegrity(user, DefaultRealm, pass), stun.Fingerprint)
	f.Add(signed.Raw)
	f.Add([]byte{0x40, 0x00, 0x00, 0x00})
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	f.Fuzz(func(t *testing.T, frame []byte) {
		pass, _ := ts.inspect(frame, src, local, true, func([]byte) {})
		if !pass && (len(frame) < 20 || frame[0]&0xC0 != 0) {
			t.Fatalf("non-STUN frame %x answered", frame)
		}
	})
}
