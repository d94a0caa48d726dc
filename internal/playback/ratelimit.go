package playback

import (
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// Per-stream request rates KVS allows, as the project's wire reference
// (kvs-api.md §5) records them from the developer guide's service quotas.
const (
	defaultGetMediaPerSecond   = 5
	defaultSessionURLPerSecond = 25
)

// rateLimiter is a token bucket per stream: each stream may make up to
// rate calls at once, and regains rate calls a second. A nil
// *rateLimiter allows everything.
//
// A bucket that has refilled completely is the same as no bucket, so
// buckets untouched for a second are dropped: the map holds only the
// streams called in the last second or so.
type rateLimiter struct {
	op   string  // operation name, for the error message
	rate float64 // calls per second, and the burst
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time // last sweep of full buckets
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter returns a limiter of perSecond calls per stream for op:
// def when perSecond is 0, nil (no limit) when it is negative.
func newRateLimiter(op string, perSecond, def int, now func() time.Time) *rateLimiter {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = def
	}
	return &rateLimiter{op: op, rate: float64(perSecond), now: now, buckets: make(map[string]*bucket)}
}

// allow takes one call from stream's bucket. It returns a
// ClientLimitExceededException when the bucket is empty. An empty stream
// name (a request naming no stream, refused later) is not counted.
func (l *rateLimiter) allow(stream string) error {
	if l == nil || stream == "" {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	b := l.buckets[stream]
	if b == nil {
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[stream] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.rate, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return awsapi.Errorf(awsapi.ClientLimitExceeded,
			"%s is limited to %g calls per second per stream; slow down and retry.", l.op, l.rate)
	}
	b.tokens--
	return nil
}

// sweepLocked drops, at most once a second, the buckets that have
// refilled completely. Callers hold l.mu.
func (l *rateLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.swept) < time.Second {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.last).Seconds()*l.rate+b.tokens >= l.rate {
			delete(l.buckets, k)
		}
	}
}

// len returns the number of buckets held, for tests.
func (l *rateLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateKey returns the stream name ref names, without looking it up, so
// that calls are counted before any work is done. It returns "" for a ref
// that names no stream; resolveStream rejects those.
func (ref mediaStreamRef) rateKey() string {
	if ref.StreamARN != nil {
		if a, err := awsapi.ParseARN(*ref.StreamARN); err == nil {
			return a.Name
		}
		return ""
	}
	if ref.StreamName != nil {
		return *ref.StreamName
	}
	return ""
}
