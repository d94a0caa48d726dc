package objarchive

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/blob"
	"github.com/openkvs/openkvs/internal/blob/s3blob"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
)

// BenchmarkPersisted200Streams measures the time from Put to the durable
// ack (PERSISTED) with 200 streams of 2 Mbit/s each sending a 1 s
// fragment (250 kB) a second, their fragment boundaries spread over the
// second as independent cameras' are: on SeaweedFS + PostgreSQL on
// loopback, the object store alone under the same load, objarchive with a
// store that confirms at once (what the index adds), and the embedded
// archive for comparison. One op is one
// second of all streams; p50 and p99 are over every fragment after a
// warm-up second.
func BenchmarkPersisted200Streams(b *testing.B) {
	const streams, size = 200, 250_000
	url := pgtest.Start(b)
	// Each S3 variant gets a fresh server: SeaweedFS' latency changes as
	// data accumulates in it, which would favour the variant run first.
	newBucket := func(b *testing.B) blob.Bucket {
		srv := s3test.Start(b)
		bucket, err := s3blob.New(b.Context(), s3blob.Config{Bucket: srv.NewBucket(b), Endpoint: srv.Endpoint, Region: srv.Region,
			AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey})
		if err != nil {
			b.Fatal(err)
		}
		return bucket
	}
	type putter interface {
		NewNumber() archive.Number
		Put(string, *archive.Fragment, []byte, bool) (<-chan error, error)
	}
	// warm is called after the warm-up second.
	run := func(b *testing.B, a putter, warm func()) {
		payload := archivetest.Payload(1, size)
		var mu sync.Mutex
		var lat []time.Duration
		round := func() {
			var wg sync.WaitGroup
			start := time.Now()
			for s := range streams {
				wg.Go(func() {
					time.Sleep(time.Until(start.Add(time.Duration(s) * time.Second / streams)))
					f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Frames: 25, Header: archivetest.Header}
					t0 := time.Now()
					done, err := a.Put(fmt.Sprintf("cam-%03d", s), f, payload, true)
					if err == nil {
						err = <-done
					}
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				})
			}
			wg.Wait()
		}
		// A warm-up second: the store creates its volumes, the index its
		// first pages, each stream its state.
		round()
		lat = lat[:0]
		if warm != nil {
			warm()
		}
		b.SetBytes(streams * size)
		for b.Loop() {
			round()
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		}
	}
	b.Run("embedded", func(b *testing.B) {
		a, err := archive.Open(archive.Config{Dir: b.TempDir(), SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		run(b, a, nil)
	})
	// The object store alone under the same load: one PutObject per
	// fragment, no index.
	b.Run("s3-store-only", func(b *testing.B) {
		run(b, &storeOnly{bucket: newBucket(b)}, nil)
	})
	// objarchive's own share: the index (and the upload path) with a
	// store that confirms at once.
	b.Run("index-only", func(b *testing.B) {
		a, err := Open(b.Context(), Config{URL: url, Schema: pgtest.NewSchema(b, url), Bucket: discard{}, SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		run(b, a, nil)
	})
	b.Run("s3", func(b *testing.B) {
		// The object writes' share of the acks' latency, measured in
		// the same run: the rest is the index and the upload path.
		bucket := &timedBucket{Bucket: newBucket(b)}
		a, err := Open(b.Context(), Config{URL: url, Schema: pgtest.NewSchema(b, url), Bucket: bucket, SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		run(b, a, bucket.reset)
		bucket.report(b)
	})
}

// storeOnly writes each fragment as one object and nothing else.
type storeOnly struct {
	bucket blob.Bucket
	mu     sync.Mutex
	n      numberer
}

func (s *storeOnly) NewNumber() archive.Number {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n.next(time.Now())
}

func (s *storeOnly) Put(stream string, f *archive.Fragment, cluster []byte, _ bool) (<-chan error, error) {
	done := make(chan error, 1)
	done <- blob.PutBytes(context.Background(), s.bucket, objectKey(stream, f.Number), cluster)
	return done, nil
}

// discard is a bucket that confirms every Put at once and keeps nothing.
type discard struct{ blob.Bucket }

func (discard) Put(_ context.Context, _ string, r io.Reader, _ int64) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// timedBucket records how long each Put takes.
type timedBucket struct {
	blob.Bucket
	mu   sync.Mutex
	durs []time.Duration
}

func (t *timedBucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	t0 := time.Now()
	err := t.Bucket.Put(ctx, key, r, size)
	t.mu.Lock()
	t.durs = append(t.durs, time.Since(t0))
	t.mu.Unlock()
	return err
}

func (t *timedBucket) reset() {
	t.mu.Lock()
	t.durs = t.durs[:0]
	t.mu.Unlock()
}

// report adds the Puts' p50 and p99 to b's metrics.
func (t *timedBucket) report(b *testing.B) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.Sort(t.durs)
	if len(t.durs) > 0 {
		b.ReportMetric(float64(t.durs[len(t.durs)/2].Microseconds())/1000, "put-p50-ms")
		b.ReportMetric(float64(t.durs[len(t.durs)*99/100].Microseconds())/1000, "put-p99-ms")
	}
}
