// Package archivetest is the behaviour suite of fragment archives: the
// embedded internal/archive and the cluster internal/objarchive run it, so
// that ingest and playback see the same behaviour from both.
package archivetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/internal/playback"
)

// Archive is what the suite exercises: the methods ingest and playback
// use, and the server's deletion hook and retention sweep.
type Archive interface {
	ingest.Archive
	playback.Archive
	DeleteStream(name string) error
	Sweep(ctx context.Context) error
}

// Options configures the archive a subtest opens.
type Options struct {
	// Now is the archive's clock.
	Now func() time.Time
	// Retention is the sweeper's retention lookup (nil: keep all).
	Retention func(ctx context.Context, stream string) (time.Duration, bool, error)
}

// Clock is a settable test clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed date.
func NewClock() *Clock { return &Clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Header is the header of the suite's fragments.
var Header = &archive.Header{TimecodeScale: 1_000_000, Tracks: []byte("\x16\x54\xae\x6b\x80")}

// Payload returns deterministic Cluster bytes for fragment i.
func Payload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*13 + j*7)
	}
	return b
}

// Put stores one fragment and, when durable, waits until it is.
func Put(t *testing.T, a Archive, stream string, producer time.Time, payload []byte, durable bool) *archive.Fragment {
	t.Helper()
	f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: producer, Timecode: uint64(producer.UnixMilli()),
		Duration: time.Second, Frames: 1, Header: Header, Tags: []byte("tags")}
	done, err := a.Put(stream, f, payload, durable)
	if err != nil {
		t.Fatal(err)
	}
	if done != nil {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Put %s: %v", f.Number, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Put %s: not durable after 30 s", f.Number)
		}
	}
	return f
}

// Run runs the suite; open returns a fresh archive for each subtest.
func Run(t *testing.T, open func(t *testing.T, o Options) Archive) {
	t.Run("PersistedAndRead", func(t *testing.T) { testPersisted(t, open) })
	t.Run("NumbersIncrease", func(t *testing.T) { testNumbers(t, open) })
	t.Run("LiveBeforeDurable", func(t *testing.T) { testLive(t, open) })
	t.Run("NextWakesOnPut", func(t *testing.T) { testNextWakes(t, open) })
	t.Run("ListPages", func(t *testing.T) { testListPages(t, open) })
	t.Run("Seek", func(t *testing.T) { testSeek(t, open) })
	t.Run("DeleteStream", func(t *testing.T) { testDelete(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("StreamsApart", func(t *testing.T) { testStreamsApart(t, open) })
}

// CheckSame fails unless got is fragment want with the same metadata.
func CheckSame(t *testing.T, got, want *archive.Fragment) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no fragment, want %s", want.Number)
	}
	if got.Number != want.Number || !got.ProducerTime.Equal(want.ProducerTime) || got.Duration != want.Duration ||
		got.Timecode != want.Timecode || got.Frames != want.Frames || !bytes.Equal(got.Tags, want.Tags) ||
		got.Header == nil || got.Header.TimecodeScale != want.Header.TimecodeScale || !bytes.Equal(got.Header.Tracks, want.Header.Tracks) {
		t.Fatalf("fragment %s: got %+v, want %+v", want.Number, got, want)
	}
}

func testPersisted(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	var frags []*archive.Fragment
	for i := range 5 {
		frags = append(frags, Put(t, a, "cam", clk.Now().Add(-time.Minute), Payload(i, 1000+i), true))
		clk.Add(time.Second)
	}
	for i, want := range frags {
		got, err := a.Get("cam", want.Number)
		if err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
		CheckSame(t, got, want)
		if got.Size != int64(1000+i) {
			t.Fatalf("Get %d: size %d", i, got.Size)
		}
		data, err := a.ReadCluster("cam", got)
		if err != nil || !bytes.Equal(data, Payload(i, 1000+i)) {
			t.Fatalf("ReadCluster %d: %d bytes, %v", i, len(data), err)
		}
	}
	list, more, err := a.List("cam", archive.ServerTime, frags[0].ServerTime(), frags[4].ServerTime(), archive.Number{}, 100)
	if err != nil || more || len(list) != 5 {
		t.Fatalf("List: %d fragments, more=%v, %v", len(list), more, err)
	}
	for i := range list {
		CheckSame(t, list[i], frags[i])
	}
	latest, err := a.Latest("cam")
	if err != nil {
		t.Fatal(err)
	}
	CheckSame(t, latest, frags[4])
	var after archive.Number
	for i := range frags {
		f, _, err := a.Next("cam", after)
		if err != nil {
			t.Fatal(err)
		}
		CheckSame(t, f, frags[i])
		after = f.Number
	}
	if f, wait, err := a.Next("cam", after); err != nil || f != nil || wait == nil {
		t.Fatalf("Next at the end: %v, %v, %v; want a wait channel", f, wait, err)
	}
	if _, err := a.Get("cam", archive.Number{Millis: 1, Seq: 1}); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get of an unknown number: %v", err)
	}
	if f, err := a.Latest("never"); err != nil || f != nil {
		t.Fatalf("Latest of an unknown stream: %v, %v", f, err)
	}
}

func testNumbers(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	prev := a.NewNumber()
	for i := range 1000 {
		if i%100 == 0 {
			clk.Add(-time.Second) // the clock going back does not matter
		}
		if i%7 == 0 {
			clk.Add(3 * time.Millisecond)
		}
		n := a.NewNumber()
		if !prev.Less(n) {
			t.Fatalf("number %d: %s not above %s", i, n, prev)
		}
		if p, err := archive.ParseNumber(n.String()); err != nil || p != n {
			t.Fatalf("number %s does not round-trip: %v %v", n, p, err)
		}
		prev = n
	}
}

func testLive(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	f := Put(t, a, "live", clk.Now(), Payload(1, 500), false)
	got, _, err := a.Next("live", archive.Number{})
	if err != nil {
		t.Fatal(err)
	}
	CheckSame(t, got, f)
	data, err := a.ReadCluster("live", got)
	if err != nil || !bytes.Equal(data, Payload(1, 500)) {
		t.Fatalf("ReadCluster of a live fragment: %d bytes, %v", len(data), err)
	}
	if l, err := a.Latest("live"); err != nil || l == nil || l.Number != f.Number {
		t.Fatalf("Latest: %v, %v", l, err)
	}
	list, _, err := a.List("live", archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 10)
	if err != nil || len(list) != 0 {
		t.Fatalf("List holds a fragment that was not persisted: %d, %v", len(list), err)
	}
}

func testNextWakes(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	f, wait, err := a.Next("wake", archive.Number{})
	if err != nil || f != nil {
		t.Fatalf("Next on an empty stream: %v, %v", f, err)
	}
	put := Put(t, a, "wake", clk.Now(), Payload(2, 100), true)
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		t.Fatal("Put did not wake the waiting reader")
	}
	got, _, err := a.Next("wake", archive.Number{})
	if err != nil {
		t.Fatal(err)
	}
	CheckSame(t, got, put)
}

func testListPages(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	start := clk.Now()
	var all []*archive.Fragment
	for i := range 7 {
		all = append(all, Put(t, a, "pages", start.Add(time.Duration(i)*time.Second), Payload(i, 10), true))
		clk.Add(500 * time.Millisecond)
	}
	for _, kind := range []archive.TimeKind{archive.ServerTime, archive.ProducerTime} {
		var got []*archive.Fragment
		var after archive.Number
		for {
			page, more, err := a.List("pages", kind, start, start.Add(time.Hour), after, 3)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if !more {
				break
			}
			after = page[len(page)-1].Number
		}
		if len(got) != len(all) {
			t.Fatalf("kind %d: paged %d fragments, want %d", kind, len(got), len(all))
		}
		for i := range got {
			CheckSame(t, got[i], all[i])
		}
	}
	// The range bounds are inclusive and by the selected timestamp.
	tests := []struct {
		kind       archive.TimeKind
		start, end time.Time
		want       []int
	}{
		{archive.ProducerTime, start.Add(2 * time.Second), start.Add(4 * time.Second), []int{2, 3, 4}},
		{archive.ProducerTime, start.Add(2500 * time.Millisecond), start.Add(2600 * time.Millisecond), nil},
		{archive.ServerTime, all[1].ServerTime(), all[3].ServerTime(), []int{1, 2, 3}},
		{archive.ServerTime, all[1].ServerTime().Add(time.Microsecond), all[3].ServerTime(), []int{2, 3}},
		{archive.ServerTime, start.Add(-time.Hour), start.Add(-time.Minute), nil},
	}
	for i, tc := range tests {
		got, more, err := a.List("pages", tc.kind, tc.start, tc.end, archive.Number{}, 100)
		if err != nil || more {
			t.Fatalf("range %d: %v, more=%v", i, err, more)
		}
		var idx []int
		for _, f := range got {
			for j := range all {
				if all[j].Number == f.Number {
					idx = append(idx, j)
				}
			}
		}
		if fmt.Sprint(idx) != fmt.Sprint(tc.want) {
			t.Errorf("range %d: fragments %v, want %v", i, idx, tc.want)
		}
	}
}

func testSeek(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	start := clk.Now().Add(-time.Hour)
	var all []*archive.Fragment
	for i := range 4 {
		// Producer times 0 s, 2 s, 4 s, 6 s, each lasting 1 s: gaps between.
		all = append(all, Put(t, a, "seek", start.Add(time.Duration(2*i)*time.Second), Payload(i, 10), true))
		clk.Add(2 * time.Second)
	}
	tests := []struct {
		kind archive.TimeKind
		t    time.Time
		want int // -1: none
	}{
		{archive.ProducerTime, start.Add(-time.Second), 0},
		{archive.ProducerTime, start, 0},
		{archive.ProducerTime, start.Add(500 * time.Millisecond), 0},
		{archive.ProducerTime, start.Add(1500 * time.Millisecond), 1}, // in a gap: the next one
		{archive.ProducerTime, start.Add(6500 * time.Millisecond), 3},
		{archive.ProducerTime, start.Add(8 * time.Second), -1},
		{archive.ServerTime, all[2].ServerTime().Add(300 * time.Millisecond), 2},
		{archive.ServerTime, all[0].ServerTime().Add(-time.Minute), 0},
	}
	for i, tc := range tests {
		f, err := a.Seek("seek", tc.kind, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.want < 0 && f != nil:
			t.Errorf("seek %d: got %s, want none", i, f.Number)
		case tc.want >= 0 && (f == nil || f.Number != all[tc.want].Number):
			t.Errorf("seek %d: got %v, want fragment %d", i, f, tc.want)
		}
	}
}

func testDelete(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	f := Put(t, a, "gone", clk.Now(), Payload(1, 100), true)
	keep := Put(t, a, "kept", clk.Now(), Payload(2, 100), true)
	if err := a.DeleteStream("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("gone", f.Number); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get after DeleteStream: %v", err)
	}
	if _, err := a.ReadCluster("gone", f); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("ReadCluster after DeleteStream: %v", err)
	}
	if l, _, err := a.List("gone", archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 10); err != nil || len(l) != 0 {
		t.Fatalf("List after DeleteStream: %d, %v", len(l), err)
	}
	if got, err := a.Get("kept", keep.Number); err != nil {
		t.Fatalf("other stream after DeleteStream: %v", err)
	} else {
		CheckSame(t, got, keep)
	}
	// The name can be used again.
	again := Put(t, a, "gone", clk.Now(), Payload(3, 100), true)
	if _, err := a.Get("gone", again.Number); err != nil {
		t.Fatalf("stream created again: %v", err)
	}
}

func testRetention(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	var mu sync.Mutex
	retention := map[string]time.Duration{"short": time.Hour, "long": 10 * time.Hour}
	a := open(t, Options{Now: clk.Now, Retention: func(_ context.Context, s string) (time.Duration, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		r, ok := retention[s]
		return r, ok, nil
	}})
	old := Put(t, a, "short", clk.Now(), Payload(1, 100), true)
	oldLong := Put(t, a, "long", clk.Now(), Payload(2, 100), true)
	clk.Add(2 * time.Hour)
	fresh := Put(t, a, "short", clk.Now(), Payload(3, 100), true)
	if err := a.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("short", old.Number); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("expired fragment after Sweep: %v", err)
	}
	if _, err := a.ReadCluster("short", old); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("ReadCluster of an expired fragment: %v", err)
	}
	for _, f := range []*archive.Fragment{fresh, oldLong} {
		s := "short"
		if f == oldLong {
			s = "long"
		}
		got, err := a.Get(s, f.Number)
		if err != nil {
			t.Fatalf("fragment within retention after Sweep: %v", err)
		}
		if data, err := a.ReadCluster(s, got); err != nil || len(data) != 100 {
			t.Fatalf("ReadCluster within retention: %d, %v", len(data), err)
		}
	}
	// A stream gone from the catalog loses its data.
	mu.Lock()
	delete(retention, "long")
	mu.Unlock()
	if err := a.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("long", oldLong.Number); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("fragment of a deleted stream after Sweep: %v", err)
	}
}

func testStreamsApart(t *testing.T, open func(*testing.T, Options) Archive) {
	clk := NewClock()
	a := open(t, Options{Now: clk.Now})
	var wg sync.WaitGroup
	const streams, each = 4, 5
	got := make([][]*archive.Fragment, streams)
	for s := range streams {
		wg.Go(func() {
			for i := range each {
				f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Frames: 1, Header: Header}
				done, err := a.Put(fmt.Sprintf("s%d", s), f, Payload(s*10+i, 200), true)
				if err == nil {
					err = <-done
				}
				if err != nil {
					t.Error(err)
					return
				}
				got[s] = append(got[s], f)
			}
		})
	}
	wg.Wait()
	for s := range streams {
		list, _, err := a.List(fmt.Sprintf("s%d", s), archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 100)
		if err != nil || len(list) != each {
			t.Fatalf("stream %d: %d fragments, %v", s, len(list), err)
		}
		for i, f := range list {
			if f.Number != got[s][i].Number {
				t.Fatalf("stream %d fragment %d: %s, want %s", s, i, f.Number, got[s][i].Number)
			}
			data, err := a.ReadCluster(fmt.Sprintf("s%d", s), f)
			if err != nil || !bytes.Equal(data, Payload(s*10+i, 200)) {
				t.Fatalf("stream %d fragment %d: bytes differ (%v)", s, i, err)
			}
		}
	}
}
