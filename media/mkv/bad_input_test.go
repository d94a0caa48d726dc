package mkv

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// Builders for hand-made streams.

func el(id ID, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(AppendElementHeader(nil, id, int64(len(body))), body...)
}

func elUnknown(id ID, parts ...[]byte) []byte {
	return append(AppendElementHeader(nil, id, UnknownSize), bytes.Join(parts, nil)...)
}

// elSized writes an element header declaring size, followed by body.
func elSized(id ID, size int64, body ...[]byte) []byte {
	return append(AppendElementHeader(nil, id, size), bytes.Join(body, nil)...)
}

func u(id ID, v uint64) []byte   { return appendUint(nil, id, v) }
func str(id ID, s string) []byte { return appendString(nil, id, s) }

func ebmlHeader(docType string) []byte {
	return el(IDEBML, u(IDEBMLVersion, 1), u(IDEBMLReadVersion, 1), str(IDDocType, docType))
}

func tracksEl(nums ...uint64) []byte {
	var entries [][]byte
	for _, n := range nums {
		entries = append(entries, el(IDTrackEntry, u(IDTrackNumber, n), u(IDTrackUID, n), u(IDTrackType, 1), str(IDCodecID, "V_MPEG4/ISO/AVC")))
	}
	return el(IDTracks, entries...)
}

// blockBody builds a block body: track VINT, relative timecode, flags, data.
func blockBody(track byte, tc int16, flags byte, data ...byte) []byte {
	return append([]byte{0x80 | track, byte(uint16(tc) >> 8), byte(tc), flags}, data...)
}

// stream wraps children in an EBML header and an unknown-size Segment
// that starts with one Tracks element for track 1.
func stream(children ...[]byte) []byte {
	return append(ebmlHeader("matroska"), elUnknown(IDSegment, append([][]byte{tracksEl(1)}, children...)...)...)
}

func cluster(tc uint64, children ...[]byte) []byte {
	return el(IDCluster, append([][]byte{u(IDTimestamp, tc)}, children...)...)
}

func TestReaderBadInput(t *testing.T) {
	deepTag := el(IDSimpleTag, str(IDTagName, "x"))
	for range 20 {
		deepTag = el(IDSimpleTag, str(IDTagName, "x"), deepTag)
	}
	huge := int64(1)<<56 - 2 // the largest known size
	for _, tc := range []struct {
		name string
		data []byte
		cfg  ReaderConfig
		want error
	}{
		{"garbage", []byte("hello, this is not matroska"), ReaderConfig{}, ErrInvalid},
		{"zero byte", []byte{0, 0, 0, 0}, ReaderConfig{}, ErrInvalid},
		{"reserved ID", []byte{0xFF, 0x80}, ReaderConfig{}, ErrInvalid},
		{"size VINT too long", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x00, 0x01}, ReaderConfig{}, ErrInvalid},
		{"truncated ID", []byte{0x1A, 0x45}, ReaderConfig{}, ErrTruncated},
		{"truncated EBML header", ebmlHeader("matroska")[:10], ReaderConfig{}, ErrTruncated},
		{"header without segment", ebmlHeader("matroska"), ReaderConfig{}, ErrTruncated},
		{"header then cluster", append(ebmlHeader("matroska"), cluster(0)...), ReaderConfig{}, ErrInvalid},
		{"doctype avi", append(ebmlHeader("avi"), elUnknown(IDSegment)...), ReaderConfig{}, ErrUnsupported},
		{"no doctype", append(el(IDEBML, u(IDEBMLVersion, 1)), elUnknown(IDSegment)...), ReaderConfig{}, ErrInvalid},
		{"read version 2", append(el(IDEBML, u(IDEBMLReadVersion, 2), str(IDDocType, "matroska")), elUnknown(IDSegment)...), ReaderConfig{}, ErrUnsupported},
		{"bomb EBML header", elSized(IDEBML, huge), ReaderConfig{}, ErrTooLarge},
		{"bomb Tracks", append(ebmlHeader("matroska"), elUnknown(IDSegment, elSized(IDTracks, huge))...), ReaderConfig{}, ErrTooLarge},
		{"bomb Tags", stream(elSized(IDTags, huge)), ReaderConfig{}, ErrTooLarge},
		{"bomb Info", stream(elSized(IDInfo, huge)), ReaderConfig{}, ErrTooLarge},
		{"bomb Cluster", stream(elSized(IDCluster, huge)), ReaderConfig{}, ErrTooLarge},
		{"bomb block in unknown cluster", stream(elUnknown(IDCluster, u(IDTimestamp, 0), elSized(IDSimpleBlock, huge))), ReaderConfig{}, ErrTooLarge},
		{"bomb skipped element", stream(elSized(IDCues, huge)), ReaderConfig{}, ErrTruncated},
		{"declared but missing Tracks", append(ebmlHeader("matroska"), elUnknown(IDSegment, elSized(IDTracks, 4<<20-1, []byte{1, 2, 3}))...), ReaderConfig{}, ErrTruncated},
		{"unknown-size cluster over limit", stream(elUnknown(IDCluster, u(IDTimestamp, 0), el(IDSimpleBlock, blockBody(1, 0, 0x80, make([]byte, 2000)...)))), ReaderConfig{MaxClusterSize: 1000}, ErrTooLarge},
		{"known-size cluster over limit", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x80, make([]byte, 2000)...)))), ReaderConfig{MaxClusterSize: 1000}, ErrTooLarge},
		{"too many frames", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x84, 255)))), ReaderConfig{MaxFrames: 100}, ErrTooLarge},
		{"too deep tags", stream(el(IDTags, el(IDTag, deepTag))), ReaderConfig{}, ErrTooDeep},
		{"unknown size Info", stream(elUnknown(IDInfo)), ReaderConfig{}, ErrInvalid},
		{"unknown size Cues", stream(elUnknown(IDCues)), ReaderConfig{}, ErrInvalid},
		{"unknown size inside cluster", stream(elUnknown(IDCluster, u(IDTimestamp, 0), elUnknown(IDBlockGroup))), ReaderConfig{}, ErrInvalid},
		{"segment in segment", stream(elUnknown(IDSegment)), ReaderConfig{}, ErrInvalid},
		{"cluster before tracks", append(ebmlHeader("matroska"), elUnknown(IDSegment, cluster(0))...), ReaderConfig{}, ErrInvalid},
		{"cluster without timestamp", stream(el(IDCluster, el(IDSimpleBlock, blockBody(1, 0, 0x80, 1)))), ReaderConfig{}, ErrInvalid},
		{"child overruns cluster", stream(el(IDCluster, u(IDTimestamp, 0), elSized(IDSimpleBlock, 100, blockBody(1, 0, 0x80, 1)))), ReaderConfig{}, ErrInvalid},
		{"element overruns segment", append(ebmlHeader("matroska"), el(IDSegment, tracksEl(1), elSized(IDVoid, 10))...), ReaderConfig{}, ErrInvalid},
		{"known segment truncated", append(ebmlHeader("matroska"), elSized(IDSegment, 100, tracksEl(1))...), ReaderConfig{}, ErrTruncated},
		{"tracks without entries", append(ebmlHeader("matroska"), elUnknown(IDSegment, el(IDTracks))...), ReaderConfig{}, ErrInvalid},
		{"track number zero", append(ebmlHeader("matroska"), elUnknown(IDSegment, el(IDTracks, el(IDTrackEntry, u(IDTrackType, 1))))...), ReaderConfig{}, ErrInvalid},
		{"duplicate track", append(ebmlHeader("matroska"), elUnknown(IDSegment, el(IDTracks, el(IDTrackEntry, u(IDTrackNumber, 1)), el(IDTrackEntry, u(IDTrackNumber, 1))))...), ReaderConfig{}, ErrInvalid},
		{"child overruns Tracks", append(ebmlHeader("matroska"), elUnknown(IDSegment, el(IDTracks, elSized(IDTrackEntry, 50, u(IDTrackNumber, 1))))...), ReaderConfig{}, ErrInvalid},
		{"bad float", stream(el(IDInfo, el(IDDuration, []byte{1, 2, 3}))), ReaderConfig{}, ErrInvalid},
		{"zero timestamp scale", stream(el(IDInfo, u(IDTimestampScale, 0))), ReaderConfig{}, ErrInvalid},
		{"uint too long", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x80)), el(IDBlockGroup, el(IDBlockDuration, make([]byte, 9)), el(IDBlock, blockBody(1, 0, 0))))), ReaderConfig{}, ErrInvalid},
		{"unknown track", stream(cluster(0, el(IDSimpleBlock, blockBody(2, 0, 0x80, 1)))), ReaderConfig{}, ErrUnknownTrack},
		{"unknown track in block group", stream(cluster(0, el(IDBlockGroup, el(IDBlock, blockBody(3, 0, 0, 1))))), ReaderConfig{}, ErrUnknownTrack},
		{"block group without block", stream(cluster(0, el(IDBlockGroup, u(IDBlockDuration, 1)))), ReaderConfig{}, ErrInvalid},
		{"block group two blocks", stream(cluster(0, el(IDBlockGroup, el(IDBlock, blockBody(1, 0, 0)), el(IDBlock, blockBody(1, 0, 0))))), ReaderConfig{}, ErrInvalid},
		{"short block", stream(cluster(0, el(IDSimpleBlock, []byte{0x81, 0}))), ReaderConfig{}, ErrInvalid},
		{"empty block", stream(cluster(0, el(IDSimpleBlock))), ReaderConfig{}, ErrInvalid},
		{"lacing: no count", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x82)))), ReaderConfig{}, ErrLacing},
		{"lacing: xiph sizes past end", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x82, 2, 255, 255)))), ReaderConfig{}, ErrLacing},
		{"lacing: xiph frame overruns", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x82, 1, 10, 1, 2)))), ReaderConfig{}, ErrLacing},
		{"lacing: ebml bad vint", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x86, 1, 0)))), ReaderConfig{}, ErrLacing},
		{"lacing: ebml size too big", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x86, 1, 0xFE, 1)))), ReaderConfig{}, ErrLacing},
		{"lacing: ebml negative size", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x86, 2, 0x81, 0x80, 1, 2)))), ReaderConfig{}, ErrLacing},
		{"lacing: ebml sizes past end", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x86, 3, 0x81)))), ReaderConfig{}, ErrLacing},
		{"lacing: fixed uneven", stream(cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x84, 1, 1, 2, 3)))), ReaderConfig{}, ErrLacing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := readAll(t, tc.data, tc.cfg)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrTruncated) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("truncation error %v does not wrap io.ErrUnexpectedEOF", err)
			}
			// No input here is bigger than a few KB; the Reader must not
			// allocate for declared sizes (its read buffer is 64 KiB).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}

func TestReaderEmptyInput(t *testing.T) {
	r := NewReader(bytes.NewReader(nil), ReaderConfig{})
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

func TestReaderTruncatedFiles(t *testing.T) {
	// A known-size Segment cut anywhere is truncated.
	data := readTestFile(t, "h264_aac.mkv")
	for cut := 1; cut < len(data); cut += 97 {
		_, err := readAll(t, data[:cut], ReaderConfig{})
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: err = %v, want ErrTruncated", cut, err)
		}
	}
	// An unknown-size Segment may end at any top-level element boundary;
	// cut inside a Cluster it is truncated.
	live := readTestFile(t, "h264_aac_live.mkv")
	res, err := readAll(t, live, ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range res.clusters {
		end := c.Offset + int64(len(c.Raw))
		got, err := readAll(t, live[:end], ReaderConfig{})
		if err != nil || len(got.clusters) != i+1 {
			t.Fatalf("cut after cluster %d: %d clusters, err %v", i, len(got.clusters), err)
		}
		if _, err := readAll(t, live[:end-1], ReaderConfig{}); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut inside cluster %d: err = %v, want ErrTruncated", i, err)
		}
	}
}

func TestReaderTransportError(t *testing.T) {
	boom := errors.New("connection reset")
	data := readTestFile(t, "h264_aac.mkv")
	r := NewReader(io.MultiReader(bytes.NewReader(data[:5000]), errReader{boom}), ReaderConfig{})
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
	if _, err2 := r.Next(); !errors.Is(err2, boom) {
		t.Errorf("error not sticky: %v", err2)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReaderLacing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block []byte
		want  [][]byte
	}{
		{"xiph", blockBody(1, 5, 0x82, append([]byte{2, 255, 1, 2}, append(append(bytes.Repeat([]byte{'a'}, 256), 'b', 'b'), 'c', 'c', 'c')...)...), [][]byte{bytes.Repeat([]byte{'a'}, 256), []byte("bb"), []byte("ccc")}},
		{"xiph size 255", blockBody(1, 5, 0x82, append([]byte{1, 255, 0}, append(bytes.Repeat([]byte{'a'}, 255), 'b')...)...), [][]byte{bytes.Repeat([]byte{'a'}, 255), []byte("b")}},
		// EBML: first size 3 (0x83), then +1 as a 1-byte signed VINT
		// (0x80|(63+1)), last frame the rest.
		{"ebml", blockBody(1, 5, 0x86, 2, 0x83, 0xC0, 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c'), [][]byte{[]byte("aaa"), []byte("bbbb"), []byte("c")}},
		// Second size -2 as a 2-byte signed VINT: 0x4000|(8191-2).
		{"ebml 2-byte diff", blockBody(1, 5, 0x86, 2, 0x84, 0x5F, 0xFD, 'a', 'a', 'a', 'a', 'b', 'b', 'c'), [][]byte{[]byte("aaaa"), []byte("bb"), []byte("c")}},
		{"fixed", blockBody(1, 5, 0x84, 2, 'a', 'a', 'b', 'b', 'c', 'c'), [][]byte{[]byte("aa"), []byte("bb"), []byte("cc")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := readAll(t, stream(cluster(10, el(IDSimpleBlock, tc.block))), ReaderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			frames := res.clusters[0].Frames
			if len(frames) != len(tc.want) {
				t.Fatalf("got %d frames, want %d", len(frames), len(tc.want))
			}
			for i, f := range frames {
				if !bytes.Equal(f.Data, tc.want[i]) || f.Track != 1 || f.Timecode != 5 || !f.Keyframe {
					t.Errorf("frame %d = %+v, want data %q", i, f, tc.want[i])
				}
			}
		})
	}
}

func TestReaderStructure(t *testing.T) {
	// A stream with everything a demuxer must skip or handle: SeekHead,
	// Void and CRC-32 at Segment level, Cues, unknown elements, a
	// BlockGroup with and without ReferenceBlock, an unknown-size Cluster
	// ended by Tags, then a second document on the same stream.
	unknownElem := el(0x4ABC, []byte("skip me"))
	doc1 := append(ebmlHeader("webm"), elUnknown(IDSegment,
		el(IDSeekHead, el(0x4DBB, u(0x53AC, 1))),
		el(IDVoid, make([]byte, 10)),
		el(IDInfo, u(IDTimestampScale, 1_000_000), str(IDTitle, "t")),
		tracksEl(1, 2),
		el(IDCRC32, []byte{1, 2, 3, 4}),
		unknownElem,
		elUnknown(IDCluster,
			el(IDCRC32, []byte{1, 2, 3, 4}),
			u(IDTimestamp, 500),
			el(IDVoid),
			el(IDSimpleBlock, blockBody(1, 0, 0x80, 'k')),
			el(IDBlockGroup, el(IDBlock, blockBody(2, 3, 0, 'a')), u(IDBlockDuration, 7)),
			el(IDBlockGroup, el(IDBlock, blockBody(1, 40, 0x08, 'p')), el(IDReferenceBlock, []byte{0xD8})),
			el(IDSimpleBlock, blockBody(1, 80, 0x01, 'd')),
			unknownElem,
		),
		el(IDTags, el(IDTag, el(IDTargets, u(IDTargetTypeValue, 50), u(IDTagTrackUID, 1)), el(IDSimpleTag, str(IDTagName, "k"), str(IDTagString, "v")))),
		el(IDCues, make([]byte, 20)),
	)...)
	doc2 := append(ebmlHeader("matroska"), el(IDSegment, tracksEl(1), cluster(900, el(IDSimpleBlock, blockBody(1, -5, 0x80, 'x'))))...)
	res, err := readAll(t, append(doc1, doc2...), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{EventHeader, EventInfo, EventTracks, EventClusterStart, EventCluster, EventTags,
		EventHeader, EventTracks, EventClusterStart, EventCluster}
	if !equalEvents(res.events, want) {
		t.Fatalf("events = %v, want %v", res.events, want)
	}
	if res.headers[0].DocType != "webm" || res.headers[1].DocType != "matroska" || res.info[0].Title != "t" {
		t.Errorf("headers %+v, info %+v", res.headers, res.info[0])
	}
	tg := res.tags[0].Tags[0]
	if tg.Targets.TypeValue != 50 || len(tg.Targets.TrackUIDs) != 1 || tg.SimpleTags[0].String != "v" {
		t.Errorf("tag = %+v", tg)
	}
	c := res.clusters[0]
	if c.Timecode != 500 || !c.UnknownSize {
		t.Errorf("cluster 0: timecode %d unknown %v", c.Timecode, c.UnknownSize)
	}
	type fr struct {
		track                       uint64
		tc                          int16
		key, invisible, discardable bool
		duration                    uint64
		data                        string
	}
	var got []fr
	for _, f := range c.Frames {
		got = append(got, fr{f.Track, f.Timecode, f.Keyframe, f.Invisible, f.Discardable, f.Duration, string(f.Data)})
	}
	wantFrames := []fr{
		{1, 0, true, false, false, 0, "k"},
		{2, 3, true, false, false, 7, "a"},
		{1, 40, false, true, false, 0, "p"},
		{1, 80, false, false, true, 0, "d"},
	}
	if len(got) != len(wantFrames) {
		t.Fatalf("frames = %+v", got)
	}
	for i := range got {
		if got[i] != wantFrames[i] {
			t.Errorf("frame %d = %+v, want %+v", i, got[i], wantFrames[i])
		}
	}
	// The rewritten Raw of an unknown-size cluster is a known-size
	// element with the same children.
	id, size, n, err := ParseElementHeader(c.Raw)
	if err != nil || id != IDCluster || size != int64(len(c.Raw)-n) {
		t.Errorf("Raw header: id %X size %d n %d err %v (len %d)", id, size, n, err, len(c.Raw))
	}
	c2 := res.clusters[1]
	if c2.Timecode != 900 || c2.Frames[0].Timecode != -5 || c2.Time(&c2.Frames[0]) != 895 {
		t.Errorf("cluster 1 = %+v", c2)
	}
}

// TestReaderClusterStartEarly checks that ClusterStart arrives before the
// rest of the Cluster has been sent, as PutMedia's BUFFERING ack needs.
func TestReaderClusterStartEarly(t *testing.T) {
	head := stream(elUnknown(IDCluster, u(IDTimestamp, 1234)))
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(head)
		// The rest is written only after the reader asks for it; the
		// Pipe blocks until then.
		_, _ = pw.Write(el(IDSimpleBlock, blockBody(1, 0, 0x80, 'x')))
		_ = pw.Close()
	}()
	r := NewReader(pr, ReaderConfig{})
	var evs []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		if ev == EventClusterStart && r.Cluster().Timecode != 1234 {
			t.Errorf("ClusterStart timecode %d", r.Cluster().Timecode)
		}
	}
	if !equalEvents(evs, []Event{EventHeader, EventTracks, EventClusterStart, EventCluster}) {
		t.Errorf("events %v", evs)
	}
}

func TestEBMLPrimitives(t *testing.T) {
	for _, size := range []int64{0, 1, 126, 127, 128, 16382, 16383, 1 << 20, 1<<56 - 2} {
		b := AppendElementHeader(nil, IDCluster, size)
		id, got, n, err := ParseElementHeader(b)
		if err != nil || id != IDCluster || got != size || n != len(b) {
			t.Errorf("size %d: got %X %d %d %v", size, id, got, n, err)
		}
	}
	if _, got, _, _ := ParseElementHeader(AppendElementHeader(nil, IDSegment, UnknownSize)); got != UnknownSize {
		t.Errorf("unknown size round trip: %d", got)
	}
	// 1-byte unknown size 0xFF is unknown too (RFC 8794 §6.2).
	if _, got, _, _ := ParseElementHeader([]byte{0xA3, 0xFF}); got != UnknownSize {
		t.Errorf("0xFF size: %d", got)
	}
	for _, b := range [][]byte{{}, {0x1A}, {0x1A, 0x45, 0xDF, 0xA3}, {0x1A, 0x45, 0xDF, 0xA3, 0x01}} {
		if _, _, _, err := ParseElementHeader(b); !errors.Is(err, ErrTruncated) {
			t.Errorf("% X: err = %v, want ErrTruncated", b, err)
		}
	}
	for _, b := range [][]byte{{0x08, 0, 0, 0, 0}, {0x80, 0x81}, {0x40, 0x00, 0x81}, {0xA3, 0x00}} {
		if _, _, _, err := ParseElementHeader(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("% X: err = %v, want ErrInvalid", b, err)
		}
	}
}
