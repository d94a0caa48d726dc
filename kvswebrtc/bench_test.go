package kvswebrtc

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/testserver"
)

// BenchmarkTimeToFirstFrame measures how long a Go viewer joining a
// running master on loopback takes to its first decodable video frame:
// endpoint discovery, GetIceServerConfig, the signaling connection, offer
// and answer, ICE, DTLS and the first key frame. It reports the median and
// the 90th percentile (ms) over b.N joins: direct (with and without TURN
// servers configured, whose allocations slow gathering a little) and
// relayed through openkvs' TURN server over UDP and TCP. Run it with
//
//	go test -run '^$' -bench TimeToFirstFrame -benchtime 20x ./kvswebrtc/
func BenchmarkTimeToFirstFrame(b *testing.B) {
	b.Run("direct", func(b *testing.B) { benchTTFF(b, loopPeer(b)) })
	b.Run("direct-no-turn", func(b *testing.B) {
		p := loopPeer(b)
		p.NoTURN = true // no TURN allocations while gathering
		benchTTFF(b, p)
	})
	b.Run("turn-udp", func(b *testing.B) {
		p := loopPeer(b)
		p.ForceTURN, p.TURNTransport = true, "udp"
		benchTTFF(b, p)
	})
	b.Run("turn-tcp", func(b *testing.B) {
		p := loopPeer(b)
		p.ForceTURN, p.TURNTransport = true, "tcp"
		benchTTFF(b, p)
	})
}

func benchTTFF(b *testing.B, peer PeerConfig) {
	r := newRig(b, testserver.Options{})
	m, err := NewMaster(MasterConfig{
		Signaling:     r.signaling(RoleMaster, "", nil),
		Peer:          peer,
		Video:         sampleSource(b, "sample.h264"),
		Audio:         sampleSource(b, "sample.ogg"),
		StatsInterval: -1,
		Logger:        testLogger(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	goRun(b, m.Run)
	measureTTFF(b, r, peer)
}

// measureTTFF joins b.N Viewers with peer, one after the other, to the
// master of r's channel and reports their median and 90th percentile time
// to first frame.
func measureTTFF(b *testing.B, r *rig, peer PeerConfig) {
	const joinGap = 300 * time.Millisecond
	var ttff []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		v, err := NewViewer(ViewerConfig{
			Signaling:     r.signaling(RoleViewer, fmt.Sprintf("bench-%d", i), nil),
			Peer:          peer,
			StatsInterval: -1,
			Logger:        testLogger(b),
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		select {
		case <-v.FirstFrame():
			ttff = append(ttff, time.Since(start))
		case <-time.After(testWait):
			b.Fatal("no first frame")
		}
		b.StopTimer()
		cancel()
		<-done
		// Joins apart, not back to back: the master's signaling
		// client paces its SDP answers to KVS' 5 a second per connection,
		// which back-to-back joins would measure instead.
		time.Sleep(joinGap)
		b.StartTimer()
	}
	sort.Slice(ttff, func(i, j int) bool { return ttff[i] < ttff[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ttff[len(ttff)/2]), "ttff-p50-ms")
	b.ReportMetric(ms(ttff[len(ttff)*9/10]), "ttff-p90-ms")
}
