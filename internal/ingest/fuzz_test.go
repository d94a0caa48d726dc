package ingest_test

import (
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/ingest"
)

// FuzzPutMedia sends arbitrary bodies through a real PutMedia endpoint and
// checks the ack stream: it always parses as flat JSON, each fragment's
// acks come as BUFFERING, RECEIVED, PERSISTED, at most one ERROR ends the
// reading, and exactly the fragments acknowledged PERSISTED are stored.
func FuzzPutMedia(f *testing.F) {
	file := readFile(f, "testdata/h264_aac.mkv")
	hevc := readFile(f, "testdata/h265_opus.mkv")
	for _, seed := range [][]byte{
		file, file[:len(file)/3], hevc[:len(hevc)/2], clusters(f, 1, 0, 1000, 500), clusters(f, 2, 0, 40, 80),
		clusters(f, 4, 0), header(f, 1), []byte("\x1a\x45\xdf\xa3garbage"), nil,
	} {
		f.Add(seed)
	}
	h := newHarness(f, ingest.Config{ConnectionsPerSecond: -1, MaxFragmentSize: 1 << 20})
	h.createStream("fuzz", 1)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(storedFragments(t, h.arch, "fuzz"))
		s := startPutMedia(t, nil, h.url, putOptions{name: "fuzz", body: append([]byte{}, body...)})
		if s.status != 200 {
			t.Fatalf("status %d: %s", s.status, s.errMsg)
		}
		acks := s.rest()
		events := map[string][]string{}
		persisted, errored := 0, false
		for _, a := range acks {
			switch a.EventType {
			case "BUFFERING", "RECEIVED":
				if errored {
					t.Fatalf("%s after ERROR:\n%s", a.EventType, rawAcks(acks))
				}
			case "PERSISTED":
				persisted++
			case "ERROR":
				if errored && a.errID() != 5001 {
					t.Fatalf("second ERROR:\n%s", rawAcks(acks))
				}
				if a.ErrorCode == nil || a.errID() < 4000 {
					t.Fatalf("ERROR without ErrorId/ErrorCode: %s", a.raw)
				}
				errored = true
				continue
			default:
				t.Fatalf("unexpected ack %q", a.raw)
			}
			if a.FragmentTimecode == nil || a.number() == "" {
				t.Fatalf("fragment ack without FragmentTimecode or FragmentNumber: %s", a.raw)
			}
			events[a.number()] = append(events[a.number()], a.EventType)
		}
		for n, ev := range events {
			if got := strings.Join(ev, ","); got != "BUFFERING" && got != "BUFFERING,RECEIVED" && got != "BUFFERING,RECEIVED,PERSISTED" {
				t.Fatalf("fragment %s: acks %s", n, got)
			}
		}
		if after := len(storedFragments(t, h.arch, "fuzz")); after-before != persisted {
			t.Fatalf("%d fragments stored, %d acknowledged PERSISTED", after-before, persisted)
		}
	})
}
