package signaling

import "time"

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// It is driven by the caller's clock and is not safe for concurrent use
// (each connection's reader owns its buckets; per-channel ones are guarded
// by Service.mu). A rate <= 0 allows
// everything.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(perSecond int, now time.Time) bucket {
	return bucket{rate: float64(perSecond), burst: float64(perSecond), tokens: float64(perSecond), last: now}
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket has refilled to its burst by now: it
// then behaves as a new one and can be dropped.
func (b *bucket) full(now time.Time) bool {
	return b.rate <= 0 || b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}
