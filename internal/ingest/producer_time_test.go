package ingest_test

import (
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/ingest"
)

// TestPutMediaProducerTimestampAhead: KVS refuses fragments whose producer
// timestamp lies in the future (INVALID_PRODUCER_TIMESTAMP, 4007), beyond
// a tolerance for clock skew; old timestamps (offline uploads) are fine.
func TestPutMediaProducerTimestampAhead(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) uint64 { return uint64(now.Add(d).UnixMilli()) }
	cases := []struct {
		name      string
		ahead     time.Duration // Config.MaxProducerTimestampAhead
		relative  bool
		timecodes []uint64 // ms: absolute, or from the start header
		persisted int
		wantError bool
		wantErrTC uint64
	}{
		{"an hour old, then at the tolerance", 0, false, []uint64{ms(-time.Hour), ms(ingest.DefaultMaxProducerTimestampAhead)}, 2, false, 0},
		{"one ms beyond the tolerance", 0, false, []uint64{ms(0), ms(ingest.DefaultMaxProducerTimestampAhead + time.Millisecond)}, 1, true, ms(ingest.DefaultMaxProducerTimestampAhead + time.Millisecond)},
		{"relative: start plus timecode counts", 0, true, []uint64{0, 11_000}, 1, true, 11_000},
		{"configured tolerance", time.Minute, false, []uint64{ms(59 * time.Second), ms(61 * time.Second)}, 1, true, ms(61 * time.Second)},
		{"check disabled", -1, false, []uint64{ms(365 * 24 * time.Hour)}, 1, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, ingest.Config{ConnectionsPerSecond: -1, MaxProducerTimestampAhead: tc.ahead, Now: func() time.Time { return now }})
			h.createStream("cam", 1)
			o := putOptions{name: "cam"}
			if tc.relative {
				o.relative, o.start = true, "1714564800.000" // now
			}
			s := startPutMedia(t, nil, h.url, o)
			if s.status != 200 {
				t.Fatalf("status %d: %s", s.status, s.errMsg)
			}
			_ = s.write(clusters(t, 1, tc.timecodes...))
			s.close()
			acks := s.rest()
			persisted := 0
			var errAck *ack
			for i, a := range acks {
				switch a.EventType {
				case "PERSISTED":
					persisted++
				case "ERROR":
					errAck = &acks[i]
				}
			}
			if persisted != tc.persisted {
				t.Errorf("%d fragments persisted, want %d\n%s", persisted, tc.persisted, rawAcks(acks))
			}
			if !tc.wantError {
				if errAck != nil {
					t.Fatalf("unexpected ERROR: %s", errAck.raw)
				}
				return
			}
			if errAck == nil || errAck.errID() != 4007 || *errAck.ErrorCode != "INVALID_PRODUCER_TIMESTAMP" {
				t.Fatalf("want ERROR 4007, got:\n%s", rawAcks(acks))
			}
			if errAck.tc() != tc.wantErrTC || errAck.number() != "" {
				t.Errorf("ERROR ack timecode %d number %q, want %d and none", errAck.tc(), errAck.number(), tc.wantErrTC)
			}
		})
	}
}
