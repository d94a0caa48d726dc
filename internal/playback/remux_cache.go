package playback

import (
	"container/list"
	"sync"

	"github.com/openkvs/openkvs/internal/archive"
)

// segmentCache keeps recently remuxed segments, so that the many players
// of one live stream, which all fetch the same newest fragment within a
// second or two, cost one remux between them. Concurrent misses for the
// same segment wait for one remux (no thundering herd). Segments are
// immutable (fragments never change), so entries never go stale; the
// oldest are dropped beyond maxBytes.
type segmentCache struct {
	maxBytes int64

	mu       sync.Mutex
	bytes    int64
	lru      *list.List // of *segmentEntry, most recent first
	entries  map[segmentKey]*list.Element
	inflight map[segmentKey]*segmentCall
}

// segmentKey names one remuxed form of one fragment.
type segmentKey struct {
	stream string
	number archive.Number
	track  uint64 // 0: every track
	ts     bool   // MPEG-TS rather than fMP4
}

type segmentEntry struct {
	key  segmentKey
	data []byte
}

type segmentCall struct {
	done chan struct{}
	data []byte
	err  error
}

// defaultSegmentCacheBytes bounds the segment cache.
const defaultSegmentCacheBytes = 64 << 20

func newSegmentCache(maxBytes int64) *segmentCache {
	return &segmentCache{maxBytes: maxBytes, lru: list.New(), entries: map[segmentKey]*list.Element{}, inflight: map[segmentKey]*segmentCall{}}
}

// get returns the segment for k, calling build once on a miss.
func (c *segmentCache) get(k segmentKey, build func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.entries[k]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*segmentEntry).data, nil
	}
	if call, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-call.done
		return call.data, call.err
	}
	call := &segmentCall{done: make(chan struct{})}
	c.inflight[k] = call
	c.mu.Unlock()

	call.data, call.err = build()

	c.mu.Lock()
	delete(c.inflight, k)
	if call.err == nil && int64(len(call.data)) <= c.maxBytes/4 {
		c.entries[k] = c.lru.PushFront(&segmentEntry{key: k, data: call.data})
		c.bytes += int64(len(call.data))
		for c.bytes > c.maxBytes {
			old := c.lru.Remove(c.lru.Back()).(*segmentEntry)
			delete(c.entries, old.key)
			c.bytes -= int64(len(old.data))
		}
	}
	c.mu.Unlock()
	close(call.done)
	return call.data, call.err
}
