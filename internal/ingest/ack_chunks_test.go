package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/ingest"
)

// gate holds back a server's writes while it is closed.
type gate struct {
	mu   sync.Mutex
	hold chan struct{} // nil: writes pass
}

func (g *gate) close() { g.mu.Lock(); g.hold = make(chan struct{}); g.mu.Unlock() }

func (g *gate) open() {
	g.mu.Lock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	g.mu.Unlock()
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.hold
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// listener returns a wrapper whose connections write only while g is open.
func (g *gate) listener(l net.Listener) net.Listener { return &gateListener{l, g} }

type gateListener struct {
	net.Listener
	g *gate
}

func (l *gateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gateConn{c, l.g}, nil
}

type gateConn struct {
	net.Conn
	g *gate
}

func (c *gateConn) Write(p []byte) (int, error) {
	c.g.wait()
	return c.Conn.Write(p)
}

// recorder keeps every byte a client connection reads: the raw HTTP
// response, chunk framing included.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// client returns an HTTP client whose connections are recorded in r.
func (r *recorder) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &recConn{c, r}, nil
		},
	}}
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.buf.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}

// httpChunks splits a raw chunked HTTP/1.1 response into the data of its
// chunks, as a client's chunk decoder sees them.
func httpChunks(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(raw))
	tp := ""
	for { // status line and headers
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("response headers: %v", err)
		}
		tp += line
		if line == "\r\n" {
			break
		}
	}
	if !strings.Contains(strings.ToLower(tp), "transfer-encoding: chunked") {
		t.Fatalf("response is not chunked:\n%s", tp)
	}
	var chunks [][]byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("chunk size line: %v (after %d chunks)", err, len(chunks))
		}
		size, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseUint(size, 16, 32)
		if err != nil {
			t.Fatalf("chunk size %q: %v", line, err)
		}
		if n == 0 {
			return chunks
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(br, data); err != nil || string(data[n:]) != "\r\n" {
			t.Fatalf("chunk of %d bytes: %v", n, err)
		}
		chunks = append(chunks, data[:n])
	}
}

// waitFragments waits until stream has n fragments in arch.
func waitFragments(t *testing.T, arch *archive.Archive, stream string, n int) {
	t.Helper()
	timeout := time.After(testWait)
	var last archive.Number
	for got := 0; got < n; {
		f, changed, err := arch.Next(stream, last)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			got, last = got+1, f.Number
			continue
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d of %d fragments after %v", got, n, testWait)
		}
	}
}

// TestPutMediaOneAckPerChunk checks the ack stream at the wire: every HTTP
// chunk carries exactly one ack, as KVS sends them, because the KVS
// producer SDK parses one ack per chunk. The server's writes are held back
// while many small fragments arrive in one write, so that many acks are
// ready to go at once when they are let through.
func TestPutMediaOneAckPerChunk(t *testing.T) {
	const fragments = 20
	var g gate
	h := newHarnessWith(t, ingest.Config{}, harnessOptions{
		listener: g.listener,
		// No fragment leaves the live buffer before it is durable and
		// indexed: waitFragments would miss it.
		archive: func(c *archive.Config) { c.LiveFragments = 2 * fragments },
	})
	t.Cleanup(g.open) // before the harness' cleanup
	h.createStream("chunks", 24)
	var rec recorder
	s := startPutMedia(t, rec.client(), h.url, putOptions{name: "chunks"})
	if s.status != http.StatusOK {
		t.Fatalf("status %d: %s", s.status, s.errMsg)
	}

	g.close()
	syn := newSynth(t, 1)
	for i := range fragments {
		syn.cluster(t, uint64(1000*i), 2, 100)
	}
	if err := s.write(syn.take()); err != nil {
		t.Fatal(err)
	}
	// The last Cluster ends with the body; the others are stored now,
	// their BUFFERING and RECEIVED acks (and some PERSISTED) held back.
	waitFragments(t, h.arch, "chunks", fragments-1)
	g.open()
	s.close()
	acks := s.rest()
	s.waitEnd()
	if len(acks) != 3*fragments {
		t.Fatalf("%d acks, want %d:\n%s", len(acks), 3*fragments, rawAcks(acks))
	}

	chunks := httpChunks(t, rec.bytes())
	seen := map[string]int{}
	for i, c := range chunks {
		dec := json.NewDecoder(bytes.NewReader(c))
		var a map[string]any
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("chunk %d %q: %v", i, c, err)
		}
		if rest := c[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
			t.Fatalf("chunk %d holds %d acks: %.300q...", i, bytes.Count(c, []byte("}\n{"))+1, c)
		}
		seen[fmt.Sprint(a["EventType"])]++
	}
	for _, ev := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		if seen[ev] != fragments {
			t.Errorf("%d %s chunks, want %d (%v)", seen[ev], ev, fragments, seen)
		}
	}
}
