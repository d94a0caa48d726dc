package objarchive

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/localbus"
)

// waitInterest makes reader follow stream and waits until pub knows it.
func waitInterest(tb testing.TB, pub, reader *Archive, stream string) {
	tb.Helper()
	if _, _, err := reader.Next(stream, archive.Number{}); err != nil {
		tb.Fatal(err)
	}
	for {
		changed := pub.interest.watch()
		if pub.interest.has(stream, reader.origin) {
			return
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			tb.Fatalf("the publisher did not hear that a node follows %s", stream)
		}
	}
}

// countingBus counts the live fragments published through it.
type countingBus struct {
	bus.Bus
	live atomic.Int64
}

func (c *countingBus) Publish(ctx context.Context, subject string, data []byte) error {
	if strings.HasPrefix(subject, "openkvs.live.") {
		c.live.Add(1)
	}
	return c.Bus.Publish(ctx, subject, data)
}

// testPublishOnlyWhenFollowed: node a puts fragments on the bus only while
// another node follows the stream: not before, not after that node stopped
// following (it says so), not once its announcements expired.
func testPublishOnlyWhenFollowed(t *testing.T, e env) {
	lb := localbus.New(localbus.Config{})
	defer lb.Close()
	cb := &countingBus{Bus: lb}
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now}, func(c *Config) { c.Bus = cb })
	b := e.open(t, archivetest.Options{Now: clk.Now}, func(c *Config) { c.Bus = lb })
	i := 0
	put := func(stream string) int64 {
		t.Helper()
		before := cb.live.Load()
		i++
		f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Frames: 1, Header: archivetest.Header}
		if _, err := a.Put(stream, f, archivetest.Payload(i, 100), false); err != nil {
			t.Fatal(err)
		}
		return cb.live.Load() - before
	}
	if n := put("cam"); n != 0 {
		t.Fatalf("published %d fragments that no node follows", n)
	}
	waitInterest(t, a, b, "cam")
	if n := put("cam"); n != 1 {
		t.Fatalf("published %d messages for a fragment node b follows, want 1", n)
	}
	if n := put("other"); n != 0 {
		t.Fatalf("published %d fragments of a stream no node follows", n)
	}
	// b stops following (its stream state goes, as on a deletion).
	changed := a.interest.watch()
	if err := b.ForgetStream("cam"); err != nil {
		t.Fatal(err)
	}
	<-changed
	if n := put("cam"); n != 0 {
		t.Fatalf("published %d fragments after node b stopped following", n)
	}
	// An announcement without follow-ups expires.
	changed = a.interest.watch()
	if err := lb.Publish(t.Context(), wantSubject, encodeInterest(&interestMsg{kind: kindWant, origin: 42, streams: []string{"cam"}})); err != nil {
		t.Fatal(err)
	}
	<-changed
	if n := put("cam"); n != 1 {
		t.Fatalf("published %d messages for an announced reader, want 1", n)
	}
	clk.Add(interestTTL)
	if n := put("cam"); n != 0 {
		t.Fatalf("published %d fragments after the announcement expired", n)
	}
}

// testProbe: a node that opens hears at once what the others follow.
func testProbe(t *testing.T, e env) {
	lb := localbus.New(localbus.Config{})
	defer lb.Close()
	clk := archivetest.NewClock()
	withBus := func(c *Config) { c.Bus = lb }
	b := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	if _, _, err := b.Next("cam", archive.Number{}); err != nil {
		t.Fatal(err)
	}
	a := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	waitInterest(t, a, b, "cam")
}

func TestInterestMessageRoundTrip(t *testing.T) {
	for _, m := range []*interestMsg{
		{kind: kindWant, origin: 1, streams: []string{"cam", "a.b"}},
		{kind: kindWithdraw, origin: 1 << 60, streams: []string{"x"}},
		{kind: kindProbe, origin: 7},
	} {
		got, err := decodeInterest(encodeInterest(m))
		if err != nil || got.kind != m.kind || got.origin != m.origin || strings.Join(got.streams, "/") != strings.Join(m.streams, "/") {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {kindWant, 0}, append([]byte{'?'}, make([]byte, 8)...),
		append(append([]byte{kindWant}, make([]byte, 8)...), 0, 0), append(append([]byte{kindWant}, make([]byte, 8)...), 0, 5, 'a'),
		encodeInterest(&interestMsg{kind: kindProbe, streams: []string{"s"}})} {
		if _, err := decodeInterest(bad); err == nil {
			t.Errorf("decodeInterest(%x) accepted", bad)
		}
	}
}

// FuzzDecodeInterest: any bytes from the bus decode to an error or to a
// message that encodes back to the same bytes.
func FuzzDecodeInterest(f *testing.F) {
	f.Add(encodeInterest(&interestMsg{kind: kindWant, origin: 3, streams: []string{"cam", "b"}}))
	f.Add(encodeInterest(&interestMsg{kind: kindProbe, origin: 4}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeInterest(data)
		if err != nil {
			return
		}
		if got := encodeInterest(m); !bytes.Equal(got, data) {
			t.Fatalf("decoded message encodes to other bytes:\n%x\n%x", got, data)
		}
	})
}
