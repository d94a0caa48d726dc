package ingest_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/media/mkv"
)

// goodStream keeps a healthy PutMedia going beside the bad ones.
type goodStream struct {
	s    *session
	sy   *synth
	tc   uint64
	sent int
}

func startGood(t *testing.T, h *harness) *goodStream {
	t.Helper()
	h.createStream("good", 1)
	g := &goodStream{s: startPutMedia(t, nil, h.url, putOptions{name: "good"}), sy: newSynth(t, 1)}
	if g.s.status != 200 {
		t.Fatalf("good stream: status %d", g.s.status)
	}
	return g
}

// fragment sends one fragment and waits for its PERSISTED ack.
func (g *goodStream) fragment(t *testing.T) {
	t.Helper()
	g.sy.cluster(t, g.tc, 5, 2000)
	g.tc += 200
	if err := g.s.write(g.sy.take()); err != nil {
		t.Fatalf("good stream: %v", err)
	}
	g.sent++
	for _, want := range []string{"BUFFERING", "RECEIVED", "PERSISTED"} {
		a, ok := g.s.next()
		if !ok || a.EventType != want {
			t.Fatalf("good stream: got %q (%v), want %s", a.raw, ok, want)
		}
	}
}

// header returns an EBML header, Segment, Info and Tracks for n tracks.
func header(t testing.TB, n int) []byte {
	t.Helper()
	return newSynth(t, n).take()
}

func clusters(t testing.TB, ntracks int, tcs ...uint64) []byte {
	t.Helper()
	sy := newSynth(t, ntracks)
	for _, tc := range tcs {
		sy.cluster(t, tc, 5, 1000)
	}
	return sy.take()
}

func TestPutMediaBadInput(t *testing.T) {
	h := newHarness(t, ingest.Config{
		MaxFragmentSize:       64 << 10,
		MaxFragmentDuration:   1500 * time.Millisecond,
		MaxConnectionDuration: time.Hour,
		ConnectionsPerSecond:  -1,
	})
	good := startGood(t, h)
	good.fragment(t)

	file := readFile(t, "testdata/h264_aac.mkv")
	src := readSource(t, file)
	hdr := header(t, 1)
	bomb := func(id mkv.ID, size int64) []byte {
		return mkv.AppendElementHeader(nil, id, size)
	}
	withTags := func(n int) []byte {
		var b bytes.Buffer
		w, _ := mkv.NewWriter(&b, mkv.WriterConfig{})
		_ = w.WriteHeader([]mkv.Track{{Number: 1, UID: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}})
		for i := range n {
			_ = w.WriteTags(mkv.SimpleTag{Name: "tag" + string(rune('a'+i)), String: "v"})
		}
		_ = w.WriteCluster(0, []mkv.Frame{{Track: 1, Keyframe: true, Data: []byte{1, 2, 3}}})
		return b.Bytes()
	}
	long := newSynth(t, 1)
	long.cluster(t, 0, 40, 100) // 40 frames 40 ms apart: 1.6 s
	big := newSynth(t, 1)
	big.cluster(t, 0, 3, 30<<10) // 90 KiB
	wrongTrack := newSynth(t, 1)
	_ = wrongTrack.w.WriteCluster(0, []mkv.Frame{{Track: 2, Keyframe: true, Data: []byte{1}}})

	cases := []struct {
		name string
		body []byte
		// fragments acknowledged before the error
		okFragments int
		errID       int
		errCode     string
		withNumber  bool // the ERROR ack names the failed fragment
	}{
		{"truncated", file[:len(file)-len(src.clusters[3].raw)/2], 3, 4006, "INVALID_MKV_DATA", true},
		{"garbage", bytes.Repeat([]byte("this is not matroska "), 100), 0, 4006, "INVALID_MKV_DATA", false},
		{"ebml header bomb", bomb(mkv.IDEBML, 1<<50), 0, 4001, "MAX_FRAGMENT_SIZE_REACHED", false},
		{"tracks bomb", append(newSynthNoTracks(t), bomb(mkv.IDTracks, 1<<40)...), 0, 4001, "MAX_FRAGMENT_SIZE_REACHED", false},
		{"cluster bomb", append(bytes.Clone(hdr), bomb(mkv.IDCluster, 1<<55)...), 0, 4001, "MAX_FRAGMENT_SIZE_REACHED", false},
		{"timecode goes back", clusters(t, 1, 0, 1000, 500), 2, 4004, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS", false},
		{"fragment too large", big.take(), 0, 4001, "MAX_FRAGMENT_SIZE_REACHED", false}, // declared size: refused before numbering
		{"fragment too long", long.take(), 0, 4002, "MAX_FRAGMENT_DURATION_REACHED", true},
		{"four tracks", clusters(t, 4, 0), 0, 4012, "MORE_THAN_ALLOWED_TRACKS_FOUND", false},
		{"eleven tags", withTags(11), 0, 4009, "FRAGMENT_METADATA_LIMIT_REACHED", false},
		{"unknown track", wrongTrack.take(), 0, 4010, "TRACK_NUMBER_MISMATCH", true},
		// Two tracks in Tracks, frames of track 1 only.
		{"track without frames", clusters(t, 2, 0), 0, 4011, "FRAMES_MISSING_FOR_TRACK", true},
		{"producer timestamp in the future", clusters(t, 1, 0, uint64(time.Now().Add(time.Hour).UnixMilli())), 1, 4007, "INVALID_PRODUCER_TIMESTAMP", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			h.createStream(name, 1)
			s := startPutMedia(t, nil, h.url, putOptions{name: name})
			if s.status != 200 {
				t.Fatalf("status %d: %s", s.status, s.errMsg)
			}
			_ = s.write(tc.body) // the server may stop reading early
			s.close()
			acks := s.rest()
			var errAck *ack
			persisted := 0
			for i, a := range acks {
				switch a.EventType {
				case "PERSISTED":
					persisted++
				case "ERROR":
					if errAck != nil {
						t.Errorf("more than one ERROR: %s", a.raw)
					}
					errAck = &acks[i]
				}
			}
			if errAck == nil || errAck.errID() != tc.errID || errAck.ErrorCode == nil || *errAck.ErrorCode != tc.errCode {
				t.Fatalf("want ERROR %d %s, got:\n%s", tc.errID, tc.errCode, rawAcks(acks))
			}
			if (errAck.number() != "") != tc.withNumber {
				t.Errorf("ERROR ack FragmentNumber %q, want one: %v", errAck.number(), tc.withNumber)
			}
			if persisted != tc.okFragments {
				t.Errorf("%d fragments persisted before the error, want %d\n%s", persisted, tc.okFragments, rawAcks(acks))
			}
			if n := len(storedFragments(t, h.arch, name)); n != tc.okFragments {
				t.Errorf("%d fragments stored, want %d", n, tc.okFragments)
			}
			// The stream beside it is unaffected.
			good.fragment(t)
		})
	}

	t.Run("http errors", func(t *testing.T) {
		h.createStream("hdr", 1)
		for _, tc := range []struct {
			name   string
			o      putOptions
			status int
			typ    string
		}{
			{"unknown stream", putOptions{name: "no-such-stream"}, 404, "ResourceNotFoundException"},
			{"no stream header", putOptions{}, 400, "InvalidArgumentException"},
			{"bad arn", putOptions{arn: "arn:aws:kinesisvideo:us-west-2:123456789012:channel/x/1"}, 400, "InvalidArgumentException"},
			{"bad timecode type", putOptions{name: "hdr", extraHeaders: map[string]string{"x-amzn-fragment-timecode-type": "SOMETIMES"}}, 400, "InvalidArgumentException"},
			{"relative without start", putOptions{name: "hdr", relative: true}, 400, "InvalidArgumentException"},
			{"bad start timestamp", putOptions{name: "hdr", start: "yesterday"}, 400, "InvalidArgumentException"},
			{"bad signature", putOptions{name: "hdr", key: [2]string{testAKID, "wrong-secret"}, body: header(t, 1)}, 403, "InvalidSignatureException"},
		} {
			s := startPutMedia(t, nil, h.url, tc.o)
			if s.status != tc.status || s.resp.Header.Get("x-amzn-ErrorType") != tc.typ {
				t.Errorf("%s: status %d type %q, want %d %s: %s", tc.name, s.status, s.resp.Header.Get("x-amzn-ErrorType"), tc.status, tc.typ, s.errMsg)
			}
		}
		good.fragment(t)
	})

	good.s.close()
	if rest := good.s.rest(); len(rest) != 0 {
		t.Errorf("good stream: extra acks at the end:\n%s", rawAcks(rest))
	}
	if n := len(storedFragments(t, h.arch, "good")); n != good.sent {
		t.Errorf("good stream: %d fragments stored, want %d", n, good.sent)
	}
}

// newSynthNoTracks returns an EBML header, a Segment of unknown size and
// Info, without Tracks.
func newSynthNoTracks(t *testing.T) []byte {
	t.Helper()
	full := header(t, 1)
	tracks := mkv.AppendTracks(nil, []mkv.Track{{Number: 1, UID: 101, Type: mkv.TrackTypeVideo,
		CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}})
	if !bytes.HasSuffix(full, tracks) {
		t.Fatal("header does not end with its Tracks")
	}
	return full[:len(full)-len(tracks)]
}

func TestPutMediaLimits(t *testing.T) {
	t.Run("newest connection wins", func(t *testing.T) {
		h := newHarness(t, ingest.Config{ConnectionsPerSecond: -1})
		h.createStream("cam", 1)
		old := startPutMedia(t, nil, h.url, putOptions{name: "cam"})
		_ = old.write(clusters(t, 1, 0))
		expectEvents(t, []ack{mustNext(t, old), mustNext(t, old), mustNext(t, old)}, "BUFFERING", "RECEIVED", "PERSISTED")

		cur := startPutMedia(t, nil, h.url, putOptions{name: "cam"})
		if cur.status != 200 {
			t.Fatalf("second connection: status %d: %s", cur.status, cur.errMsg)
		}
		old.waitEnd() // the older connection ends
		_ = cur.write(clusters(t, 1, 1000, 2000))
		cur.close()
		if got := cur.rest(); len(got) != 6 {
			t.Fatalf("newest connection: %d acks, want 6\n%s", len(got), rawAcks(got))
		}
		if n := len(storedFragments(t, h.arch, "cam")); n != 3 {
			t.Errorf("%d fragments stored, want 3", n)
		}
	})

	t.Run("idle connection closed", func(t *testing.T) {
		h := newHarness(t, ingest.Config{IdleTimeout: 400 * time.Millisecond, IdleAckInterval: 50 * time.Millisecond})
		h.createStream("idle", 1)
		s := startPutMedia(t, nil, h.url, putOptions{name: "idle"})
		_ = s.write(header(t, 1))
		idle := 0
		for a := range s.acks {
			if a.EventType != "IDLE" || a.FragmentTimecode != nil || a.FragmentNumber != nil {
				t.Errorf("unexpected ack on an idle connection: %s", a.raw)
			}
			idle++
		}
		if idle == 0 {
			t.Error("no IDLE keep-alive before the idle connection was closed")
		}
		s.waitEnd()
	})

	t.Run("connection duration", func(t *testing.T) {
		h := newHarness(t, ingest.Config{MaxConnectionDuration: 300 * time.Millisecond})
		h.createStream("long", 1)
		s := startPutMedia(t, nil, h.url, putOptions{name: "long"})
		_ = s.write(clusters(t, 1, 0))
		acks := s.rest()
		last := acks[len(acks)-1]
		if last.EventType != "ERROR" || last.errID() != 4003 {
			t.Fatalf("last ack %s, want ERROR 4003\n%s", last.raw, rawAcks(acks))
		}
	})

	t.Run("connections per second", func(t *testing.T) {
		h := newHarness(t, ingest.Config{ConnectionsPerSecond: 2, Now: func() time.Time { return time.Unix(1700000000, 0) }})
		h.createStream("rate", 1)
		var statuses []int
		for range 3 {
			s := startPutMedia(t, nil, h.url, putOptions{name: "rate"})
			statuses = append(statuses, s.status)
			if s.status == http.StatusBadRequest && s.resp.Header.Get("x-amzn-ErrorType") != "ClientLimitExceededException" {
				t.Errorf("third connection: %s", s.errMsg)
			}
		}
		if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 400 {
			t.Errorf("statuses %v, want [200 200 400]", statuses)
		}
	})

	t.Run("stream deleted mid-ingest", func(t *testing.T) {
		h := newHarness(t, ingest.Config{})
		h.createStream("gone", 1)
		h.createStream("stays", 1)
		other := startPutMedia(t, nil, h.url, putOptions{name: "stays"})
		s := startPutMedia(t, nil, h.url, putOptions{name: "gone"})
		_ = s.write(clusters(t, 1, 0))
		expectEvents(t, []ack{mustNext(t, s), mustNext(t, s), mustNext(t, s)}, "BUFFERING", "RECEIVED", "PERSISTED")
		h.deleteStream("gone")
		acks := s.rest()
		if len(acks) != 1 || acks[0].EventType != "ERROR" || acks[0].errID() != 4008 {
			t.Fatalf("after DeleteStream: %s, want one ERROR 4008", rawAcks(acks))
		}
		if n := len(storedFragments(t, h.arch, "gone")); n != 0 {
			t.Errorf("deleted stream still has %d fragments", n)
		}
		_ = other.write(clusters(t, 1, 0, 1000))
		other.close()
		if got := other.rest(); len(got) != 6 {
			t.Errorf("other stream: %d acks, want 6\n%s", len(got), rawAcks(got))
		}
	})
}

func mustNext(t *testing.T, s *session) ack {
	t.Helper()
	a, ok := s.next()
	if !ok {
		t.Fatal("ack stream ended")
	}
	return a
}
