package playback

import (
	"context"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
)

// BenchmarkGetMediaLiveLatency measures the live latency from archive.Put
// (what PutMedia calls once a fragment is received) to a GetMedia(NOW)
// reader on loopback HTTP having parsed the fragment's Cluster, one
// fragment at a time. It reports the median and the 99th percentile.
func BenchmarkGetMediaLiveLatency(b *testing.B) {
	for _, durable := range []bool{true, false} {
		name := "durable"
		if !durable {
			name = "live-only"
		}
		b.Run(name, func(b *testing.B) {
			e := newMediaEnv(b, MediaConfig{})
			h, src := loadSource(b, liveSourceFile)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp := e.post(ctx, "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "NOW"}})
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			e.waitSessions(mediaTestStream, 1)
			chunks := readChunks(resp.Body)
			lat := make([]time.Duration, 0, b.N)
			var pending []<-chan error
			b.ResetTimer()
			for i := range b.N {
				s := src[i%len(src)]
				f := &archive.Fragment{Number: e.arch.NewNumber(), ProducerTime: time.Now(), Timecode: s.timecode, Duration: time.Second, Frames: len(s.frames), Header: h}
				t0 := time.Now()
				done, err := e.arch.Put(mediaTestStream, f, s.raw, durable)
				if err != nil {
					b.Fatal(err)
				}
				c := receive(b, chunks)
				lat = append(lat, time.Since(t0))
				if c.c == nil {
					b.Fatal("chunk without Cluster")
				}
				if done != nil {
					pending = append(pending, done)
				}
				if len(pending) > 64 {
					for _, d := range pending {
						if err := <-d; err != nil {
							b.Fatal(err)
						}
					}
					pending = pending[:0]
				}
			}
			b.StopTimer()
			for _, d := range pending {
				<-d
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
