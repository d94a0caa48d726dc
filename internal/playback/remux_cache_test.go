package playback

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openkvs/openkvs/internal/archive"
)

func TestSegmentCache(t *testing.T) {
	c := newSegmentCache(400)
	var builds atomic.Int32
	build := func(n int) func() ([]byte, error) {
		return func() ([]byte, error) {
			builds.Add(1)
			return make([]byte, n), nil
		}
	}
	key := func(i uint64) segmentKey { return segmentKey{stream: "s", number: archive.Number{Millis: i}} }
	// Concurrent misses for one segment build it once.
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-gate
			if b, err := c.get(key(1), build(100)); err != nil || len(b) != 100 {
				t.Errorf("get: %d bytes, %v", len(b), err)
			}
		})
	}
	close(gate)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds for one segment, want 1", n)
	}
	// Beyond maxBytes the least recently used go.
	for i := uint64(2); i <= 4; i++ {
		_, _ = c.get(key(i), build(100))
	}
	_, _ = c.get(key(1), build(100)) // hit: 1 becomes the most recent
	_, _ = c.get(key(5), build(100)) // evicts 2
	builds.Store(0)
	_, _ = c.get(key(1), build(100))
	_, _ = c.get(key(2), build(100))
	if n := builds.Load(); n != 1 {
		t.Errorf("%d rebuilds, want 1 (only segment 2 was evicted)", n)
	}
	// Errors are not cached; segments over a quarter of the cache are not kept.
	fail := errors.New("boom")
	if _, err := c.get(key(9), func() ([]byte, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Errorf("error %v", err)
	}
	builds.Store(0)
	for range 2 {
		_, _ = c.get(key(9), build(10))
		_, _ = c.get(key(10), build(101))
	}
	if n := builds.Load(); n != 3 {
		t.Errorf("%d builds, want 3 (segment 10 is too big to keep)", n)
	}
	if c.bytes > c.maxBytes {
		t.Errorf("cache holds %d bytes, limit %d", c.bytes, c.maxBytes)
	}
}
