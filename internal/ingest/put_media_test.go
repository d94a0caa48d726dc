package ingest_test

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/media/mkv"
)

var testFiles = []struct{ name, path string }{
	{"h264_aac", "testdata/h264_aac.mkv"},
	{"h265_opus", "testdata/h265_opus.mkv"},
}

// sendAll writes data in chunks of n bytes and ends the body.
func sendAll(t testing.TB, s *session, data []byte, n int) {
	t.Helper()
	for len(data) > 0 {
		k := min(n, len(data))
		if err := s.write(data[:k]); err != nil {
			t.Fatalf("write body: %v", err)
		}
		data = data[k:]
	}
	s.close()
}

// byFragment groups acks by fragment number, in order of first sight, and
// checks each fragment's events came in the wanted order.
func checkFragmentAcks(t testing.TB, acks []ack, src *sourceFile, want ...string) []string {
	t.Helper()
	var order []string
	events := map[string][]string{}
	tcs := map[string]uint64{}
	for _, a := range acks {
		if a.EventType == "ERROR" {
			t.Fatalf("unexpected ERROR ack: %s", a.raw)
		}
		n := a.number()
		if n == "" {
			t.Fatalf("ack without FragmentNumber: %s", a.raw)
		}
		if _, ok := events[n]; !ok {
			order = append(order, n)
			tcs[n] = a.tc()
		} else if tcs[n] != a.tc() {
			t.Fatalf("fragment %s: FragmentTimecode changed: %s", n, a.raw)
		}
		events[n] = append(events[n], a.EventType)
	}
	if len(order) != len(src.clusters) {
		t.Fatalf("%d fragments acknowledged, want %d:\n%s", len(order), len(src.clusters), rawAcks(acks))
	}
	for i, n := range order {
		if got := strings.Join(events[n], ","); got != strings.Join(want, ",") {
			t.Errorf("fragment %d (%s): events %s, want %s", i, n, got, strings.Join(want, ","))
		}
		if wantTC := src.clusters[i].timecode * src.scale / 1e6; tcs[n] != wantTC {
			t.Errorf("fragment %d: FragmentTimecode %d, want %d", i, tcs[n], wantTC)
		}
		if i > 0 {
			a, _ := archive.ParseNumber(order[i-1])
			b, err := archive.ParseNumber(n)
			if err != nil || !a.Less(b) {
				t.Errorf("fragment numbers not increasing: %s then %s (%v)", order[i-1], n, err)
			}
		}
	}
	return order
}

func TestPutMediaPersists(t *testing.T) {
	for _, tf := range testFiles {
		t.Run(tf.name, func(t *testing.T) {
			h := newHarness(t, ingest.Config{})
			h.createStream("cam", 24)
			src := readSource(t, readFile(t, tf.path))
			before := time.Now()
			s := startPutMedia(t, nil, h.url, putOptions{name: "cam"})
			if s.status != 200 {
				t.Fatalf("status %d: %s", s.status, s.errMsg)
			}
			sendAll(t, s, src.data, 4096)
			acks := s.rest()
			after := time.Now()
			numbers := checkFragmentAcks(t, acks, src, "BUFFERING", "RECEIVED", "PERSISTED")

			frags := storedFragments(t, h.arch, "cam")
			if len(frags) != len(src.clusters) {
				t.Fatalf("archive holds %d fragments, want %d", len(frags), len(src.clusters))
			}
			for i, f := range frags {
				want := src.clusters[i]
				if f.Number.String() != numbers[i] {
					t.Errorf("fragment %d: number %s, acked %s", i, f.Number, numbers[i])
				}
				raw, err := h.arch.ReadCluster("cam", f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(raw, want.raw) || f.Size != int64(len(want.raw)) {
					t.Errorf("fragment %d: stored Cluster differs from the one sent (%d vs %d bytes)", i, len(raw), len(want.raw))
				}
				got, tracks := decodeStored(t, h.arch, "cam", f)
				checkFrames(t, tf.name, got, want)
				if !bytes.Equal(tracks.Raw, src.tracks.Raw) || len(tracks.Entries[0].CodecPrivate) == 0 {
					t.Errorf("fragment %d: Tracks (codec private data) not kept", i)
				}
				if wantP := time.Unix(0, int64(want.timecode*src.scale)); !f.ProducerTime.Equal(wantP) {
					t.Errorf("fragment %d: producer time %v, want %v", i, f.ProducerTime, wantP)
				}
				if st := f.ServerTime(); st.Before(before.Truncate(time.Millisecond)) || st.After(after) {
					t.Errorf("fragment %d: server time %v outside [%v, %v]", i, st, before, after)
				}
				if f.Duration < 900*time.Millisecond || f.Duration > 1100*time.Millisecond {
					t.Errorf("fragment %d: duration %v, want about 1s", i, f.Duration)
				}
				if f.Frames != len(want.frames) {
					t.Errorf("fragment %d: %d frames recorded, want %d", i, f.Frames, len(want.frames))
				}
			}
		})
	}
}

func TestPutMediaRelativeTimecodes(t *testing.T) {
	h := newHarness(t, ingest.Config{})
	st := h.createStream("rel", 1)
	src := readSource(t, readFile(t, "testdata/h264_aac.mkv"))
	// By ARN, RELATIVE to a producer start of 1700000000.123.
	s := startPutMedia(t, nil, h.url, putOptions{arn: st.ARN, relative: true, start: "1700000000.123"})
	if s.status != 200 {
		t.Fatalf("status %d: %s", s.status, s.errMsg)
	}
	sendAll(t, s, src.data, 1<<20)
	checkFragmentAcks(t, s.rest(), src, "BUFFERING", "RECEIVED", "PERSISTED")
	frags := storedFragments(t, h.arch, "rel")
	start := time.UnixMilli(1700000000123)
	for i, f := range frags {
		want := start.Add(time.Duration(src.clusters[i].timecode * src.scale))
		if !f.ProducerTime.Equal(want) {
			t.Errorf("fragment %d: producer time %v, want %v", i, f.ProducerTime, want)
		}
	}
}

func TestPutMediaNoRetention(t *testing.T) {
	h := newHarness(t, ingest.Config{})
	h.createStream("live", 0)
	src := readSource(t, readFile(t, "testdata/h265_opus.mkv"))
	s := startPutMedia(t, nil, h.url, putOptions{name: "live"})
	sendAll(t, s, src.data, 8192)
	checkFragmentAcks(t, s.rest(), src, "BUFFERING", "RECEIVED")

	frags := storedFragments(t, h.arch, "live")
	if len(frags) != len(src.clusters) {
		t.Fatalf("live buffer holds %d fragments, want %d", len(frags), len(src.clusters))
	}
	for i, f := range frags {
		got, _ := decodeStored(t, h.arch, "live", f)
		checkFrames(t, "live", got, src.clusters[i])
	}
	if l, _, _ := h.arch.List("live", archive.ServerTime, time.Time{}, time.Now().Add(time.Hour), archive.Number{}, 100); len(l) != 0 {
		t.Errorf("retention 0: %d fragments in the durable index", len(l))
	}
	_ = filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") {
			t.Errorf("retention 0 wrote segment file %s", p)
		}
		return nil
	})
}

func TestPutMediaNoAcksRequested(t *testing.T) {
	h := newHarness(t, ingest.Config{})
	h.createStream("quiet", 1)
	src := readSource(t, readFile(t, "testdata/h264_aac.mkv"))
	s := startPutMedia(t, nil, h.url, putOptions{name: "quiet", noAcks: true})
	sendAll(t, s, src.data, 1<<20)
	if acks := s.rest(); len(acks) != 0 {
		t.Fatalf("acks sent although x-amzn-fragment-acknowledgment-required is 0:\n%s", rawAcks(acks))
	}
	if n := len(storedFragments(t, h.arch, "quiet")); n != len(src.clusters) {
		t.Fatalf("%d fragments stored, want %d", n, len(src.clusters))
	}
}

// TestPutMediaBlockGroupsAndTags ingests a Cluster of unknown size that
// mixes a SimpleBlock with BlockGroups (one with a BlockDuration, one with
// a ReferenceBlock) and carries producer metadata in two Tags elements.
func TestPutMediaBlockGroupsAndTags(t *testing.T) {
	h := newHarness(t, ingest.Config{})
	h.createStream("bg", 1)
	sy := newSynth(t, 1)
	if err := sy.w.WriteTags(mkv.SimpleTag{Name: "location", String: "gate-3"}); err != nil {
		t.Fatal(err)
	}
	if err := sy.w.WriteTags(mkv.SimpleTag{Name: "camera", String: "north"}); err != nil {
		t.Fatal(err)
	}
	block := func(tc int16, flags byte, data string) []byte {
		return append([]byte{0x81, byte(uint16(tc) >> 8), byte(tc), flags}, data...)
	}
	elem := func(id mkv.ID, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(mkv.AppendElementHeader(nil, id, int64(len(b))), b...)
	}
	var body []byte
	body = append(body, elem(mkv.IDTimestamp, []byte{0x03, 0xE8})...) // 1000
	body = append(body, elem(mkv.IDSimpleBlock, block(0, 0x80, "key"))...)
	body = append(body, elem(mkv.IDBlockGroup, elem(mkv.IDBlock, block(40, 0, "delta")), elem(mkv.IDReferenceBlock, []byte{0xD8}))...)
	body = append(body, elem(mkv.IDBlockGroup, elem(mkv.IDBlock, block(80, 0, "last")), elem(mkv.IDBlockDuration, []byte{200}))...)
	cluster := append(mkv.AppendElementHeader(nil, mkv.IDCluster, mkv.UnknownSize), body...)
	s := startPutMedia(t, nil, h.url, putOptions{name: "bg"})
	sendAll(t, s, append(sy.take(), cluster...), 7)
	expectEvents(t, s.rest(), "BUFFERING", "RECEIVED", "PERSISTED")

	frags := storedFragments(t, h.arch, "bg")
	if len(frags) != 1 {
		t.Fatalf("%d fragments, want 1", len(frags))
	}
	f := frags[0]
	got, _ := decodeStored(t, h.arch, "bg", f)
	if len(got.Frames) != 3 || string(got.Frames[0].Data) != "key" || !got.Frames[0].Keyframe ||
		string(got.Frames[1].Data) != "delta" || got.Frames[1].Keyframe || string(got.Frames[2].Data) != "last" {
		t.Fatalf("stored frames %+v", got.Frames)
	}
	if f.Duration != 280*time.Millisecond { // last frame at 80 ms + BlockDuration 200 ms
		t.Errorf("duration %v, want 280ms", f.Duration)
	}
	if !bytes.Contains(f.Tags, []byte("gate-3")) || !bytes.Contains(f.Tags, []byte("north")) {
		t.Errorf("producer tags not kept with the fragment: %q", f.Tags)
	}
}
