package mkv

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// elN builds an element whose size is written as an n-byte VINT, as the KVS
// producer SDK does with its fixed-width placeholders.
func elN(id ID, n int, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(appendVintN(AppendID(nil, id), uint64(len(body)), n), body...)
}

func u64(id ID, v uint64) []byte {
	return binary.BigEndian.AppendUint64(appendVintN(AppendID(nil, id), 8, 1), v)
}

// kvsProducerDocument lays out one document the way the KVS producer SDK
// (PIC mkvgen) writes it: EBML header with DocTypeVersion 2, Segment and
// Clusters with the 1-byte unknown size 0xFF, a 2-byte-size Info with
// SegmentUID and an 8-byte TimecodeScale, 4-byte sizes in Tracks, one Tags
// element per metadata item with 8-byte sizes and no Targets, Clusters with
// an 8-byte Timecode and Position 0, and SimpleBlocks with 8-byte sizes.
func kvsProducerDocument(tags map[string]string, clusters map[uint64][][]byte) []byte {
	var b []byte
	b = append(b, el(IDEBML, u(IDEBMLVersion, 1), u(IDEBMLReadVersion, 1), u(IDEBMLMaxIDLength, 4),
		u(IDEBMLMaxSizeLength, 8), str(IDDocType, "matroska"), u(IDDocTypeVersion, 2), u(IDDocTypeReadVersion, 2))...)
	b = append(b, 0x18, 0x53, 0x80, 0x67, 0xFF)
	b = append(b, elN(IDInfo, 2, el(IDSegmentUUID, make([]byte, 16)), u64(IDTimestampScale, 1_000_000),
		str(IDTitle, "Kinesis Video SDK"), str(IDMuxingApp, "Kinesis Video SDK 3.4.1"), str(IDWritingApp, "Kinesis Video SDK 3.4.1"))...)
	video := elN(IDVideo, 4, el(IDPixelWidth, []byte{0x05, 0x00}), el(IDPixelHeight, []byte{0x02, 0xD0}))
	audio := elN(IDAudio, 4, el(IDSamplingFrequency, binary.BigEndian.AppendUint64(nil, math.Float64bits(48000))), u(IDChannels, 2))
	b = append(b, elN(IDTracks, 4,
		elN(IDTrackEntry, 4, u(IDTrackNumber, 1), u64(IDTrackUID, 1), u(IDTrackType, 1),
			str(IDCodecID, "V_MPEG4/ISO/AVC"), str(IDName, "kinesis_video"), el(IDCodecPrivate, []byte{1, 0x42, 0, 0x1e}), video),
		elN(IDTrackEntry, 4, u(IDTrackNumber, 2), u64(IDTrackUID, 2), u(IDTrackType, 2),
			str(IDCodecID, "A_AAC"), str(IDName, "kinesis_audio"), el(IDCodecPrivate, []byte{0x11, 0x90}), audio),
	)...)
	for name, value := range tags {
		b = append(b, elN(IDTags, 8, elN(IDTag, 8, elN(IDSimpleTag, 8, elN(IDTagName, 8, []byte(name)), elN(IDTagString, 8, []byte(value)))))...)
	}
	for tc := uint64(0); tc < 100_000; tc += 1000 {
		frames, ok := clusters[tc]
		if !ok {
			continue
		}
		b = append(b, 0x1F, 0x43, 0xB6, 0x75, 0xFF)
		b = append(b, u64(IDTimestamp, tc)...)
		b = append(b, u(IDPosition, 0)...)
		for i, f := range frames {
			track, flags := byte(1), byte(0)
			if i == 0 {
				flags = 0x80
			}
			if f[0] == 'a' {
				track, flags = 2, 0x80
			}
			b = append(b, elN(IDSimpleBlock, 8, []byte{0x80 | track, 0, byte(i * 10), flags}, f)...)
		}
	}
	return b
}

func TestReaderKVSProducerLayout(t *testing.T) {
	doc1 := kvsProducerDocument(map[string]string{"camera": "door"}, map[uint64][][]byte{
		1000: {[]byte("vIDR"), []byte("aaac"), []byte("vP")},
		3000: {[]byte("vIDR2"), []byte("vP2")},
	})
	// The SDK restarts with a new header on the same connection (e.g. after
	// a token rotation or an error ack).
	doc2 := kvsProducerDocument(nil, map[uint64][][]byte{5000: {[]byte("vIDR3")}})
	res, err := readAll(t, append(doc1, doc2...), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{EventHeader, EventInfo, EventTracks, EventTags,
		EventClusterStart, EventCluster, EventClusterStart, EventCluster,
		EventHeader, EventInfo, EventTracks, EventClusterStart, EventCluster}
	if !equalEvents(res.events, want) {
		t.Fatalf("events = %v, want %v", res.events, want)
	}
	if h := res.headers[0]; h.DocTypeVersion != 2 || h.SegmentSize != UnknownSize {
		t.Errorf("header = %+v", h)
	}
	if in := res.info[0]; in.TimecodeScale != 1_000_000 || in.Title != "Kinesis Video SDK" {
		t.Errorf("info = %+v", in)
	}
	v, a := res.tracks[0].Track(1), res.tracks[0].Track(2)
	if v.Video.PixelWidth != 1280 || v.Video.PixelHeight != 720 || v.Name != "kinesis_video" || a.Audio.SamplingFrequency != 48000 || a.Audio.Channels != 2 {
		t.Errorf("tracks = %+v %+v / %+v %+v", v, v.Video, a, a.Audio)
	}
	if s, _ := res.tags[0].Lookup("camera"); s != "door" {
		t.Errorf("tag camera = %q", s)
	}
	wantClusters := []struct {
		tc     uint64
		frames []string
	}{
		{1000, []string{"vIDR", "aaac", "vP"}},
		{3000, []string{"vIDR2", "vP2"}},
		{5000, []string{"vIDR3"}},
	}
	for i, wc := range wantClusters {
		c := res.clusters[i]
		if c.Timecode != wc.tc || !c.UnknownSize || len(c.Frames) != len(wc.frames) {
			t.Fatalf("cluster %d: tc %d unknown %v frames %d", i, c.Timecode, c.UnknownSize, len(c.Frames))
		}
		for j, f := range c.Frames {
			if string(f.Data) != wc.frames[j] || f.Timecode != int16(j*10) || f.Keyframe != (j == 0 || f.Track == 2) {
				t.Errorf("cluster %d frame %d = %+v", i, j, f)
			}
		}
	}
}
