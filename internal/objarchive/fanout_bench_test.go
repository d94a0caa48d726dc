package objarchive

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/blob/fsblob"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
)

// BenchmarkCrossNodeLiveLatency measures the time from a fragment's Put on
// node a to a waiting reader's Next returning it: on node a itself, and on
// node b (two Archives, each with its own connection to a real NATS server
// on loopback). One op per 250 kB fragment, sent one after the other.
func BenchmarkCrossNodeLiveLatency(b *testing.B) {
	url := pgtest.Start(b)
	nats := natstest.Start(b, natstest.Options{})
	schema := pgtest.NewSchema(b, url)
	bucket, err := fsblob.New(fsblob.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	node := func() *Archive {
		nb, err := natsbus.New(natsbus.Config{URL: nats.URL()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = nb.Close() })
		a, err := Open(b.Context(), Config{URL: url, Schema: schema, Bucket: bucket, Bus: nb, SweepInterval: -1, PollInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = a.Close() })
		return a
	}
	na, nb := node(), node()
	for _, tc := range []struct {
		name   string
		reader *Archive
	}{{"same-node", na}, {"cross-node", nb}} {
		b.Run(tc.name, func(b *testing.B) { liveLatency(b, na, tc.reader, tc.name) })
	}
}

// liveLatency puts fragments of stream on a and reads them on reader.
func liveLatency(b *testing.B, na, reader *Archive, stream string) {
	payload := archivetest.Payload(1, 250_000)
	// The reader on b: each fragment's arrival time by number.
	var mu sync.Mutex
	arrived := map[archive.Number]time.Time{}
	got := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The reader starts after what earlier runs left (and b follows the
	// stream from now on).
	var start archive.Number
	if l, err := reader.Latest(stream); err != nil {
		b.Fatal(err)
	} else if l != nil {
		start = l.Number
	}
	if reader == na {
		_, _, _ = reader.Next(stream, start)
	} else {
		waitInterest(b, na, reader, stream) // a publishes to b from now on
	}
	wg.Go(func() {
		after := start
		for {
			f, wait, err := reader.Next(stream, after)
			if err != nil {
				b.Error(err)
				return
			}
			if f == nil {
				select {
				case <-wait:
					continue
				case <-stop:
					return
				}
			}
			mu.Lock()
			arrived[f.Number] = time.Now()
			mu.Unlock()
			after = f.Number
			got <- struct{}{}
		}
	})
	var lat []time.Duration
	for b.Loop() {
		f := &archive.Fragment{Number: na.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Frames: 25, Header: archivetest.Header}
		t0 := time.Now()
		if _, err := na.Put(stream, f, payload, false); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("node b did not get the fragment")
		}
		mu.Lock()
		lat = append(lat, arrived[f.Number].Sub(t0))
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
