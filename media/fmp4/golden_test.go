package fmp4

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenFragment checks a whole small fragment byte by byte against
// ISO/IEC 14496-12 §8.8 worked out by hand.
func TestGoldenFragment(t *testing.T) {
	var buf bytes.Buffer
	n, err := WriteFragment(&buf, 1, TrackFragment{TrackID: 1, Samples: []Sample{
		{DecodeTime: 90000, Duration: 3000, Keyframe: true, Data: []byte("ab")},
		{DecodeTime: 93000, Data: []byte("c")}, // duration taken from the previous sample
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		0000006c 6d6f6f66
		  00000010 6d666864 00000000 00000001
		  00000054 74726166
		    00000010 74666864 00020000 00000001
		    00000010 74666474 00000000 00015f90
		    0000002c 7472756e 00000701 00000002 00000074
		      00000bb8 00000002 02000000
		      00000bb8 00000001 01010000
		0000000b 6d646174 616263`)
	if !bytes.Equal(buf.Bytes(), want) || n != int64(len(want)) {
		t.Errorf("got  %x\nwant %x", buf.Bytes(), want)
	}
	var fw FragmentWriter
	app, err := fw.AppendFragment([]byte("x"), 1, TrackFragment{TrackID: 1, Samples: []Sample{
		{DecodeTime: 90000, Duration: 3000, Keyframe: true, Data: []byte("ab")},
		{DecodeTime: 93000, Data: []byte("c")},
	}})
	if err != nil || !bytes.Equal(app[1:], want) || app[0] != 'x' {
		t.Errorf("AppendFragment = %x, %v", app, err)
	}
}

// TestGoldenNegativeOffset checks trun version 1 with signed composition
// offsets and tfdt version 1 for a 64-bit decode time.
func TestGoldenNegativeOffset(t *testing.T) {
	var buf bytes.Buffer
	_, err := WriteFragment(&buf, 7, TrackFragment{TrackID: 2, Samples: []Sample{
		{DecodeTime: 1 << 32, PresentationOffset: -3000, Duration: 3000, Keyframe: true, Data: []byte("a")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		00000068 6d6f6f66
		  00000010 6d666864 00000000 00000007
		  00000050 74726166
		    00000010 74666864 00020000 00000002
		    00000014 74666474 01000000 00000001 00000000
		    00000024 7472756e 01000f01 00000001 00000070
		      00000bb8 00000001 02000000 fffff448
		00000009 6d646174 61`)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got  %x\nwant %x", buf.Bytes(), want)
	}
}

func TestGoldenEsds(t *testing.T) {
	var w boxBuf
	writeEsds(&w, []byte{0x11, 0x90}) // AAC-LC, 48 kHz, stereo
	want := unhex(t, `00000027 65736473 00000000
		03 19 0000 00
		  04 11 40 15 000000 00000000 00000000
		    05 02 1190
		  06 01 02`)
	if !bytes.Equal(w.b, want) {
		t.Errorf("got  %x\nwant %x", w.b, want)
	}
	// A DecoderSpecificInfo of 200 bytes needs a two-byte size field.
	w = boxBuf{}
	writeDescriptorHeader(&w, 5, 200)
	if want := []byte{5, 0x81, 0x48}; !bytes.Equal(w.b, want) || descriptorLen(200) != 203 {
		t.Errorf("descriptor header %x, want %x", w.b, want)
	}
}

func TestGoldenOpus(t *testing.T) {
	head := unhex(t, "4f707573486561640102380180bb0000000000") // OpusHead v1, 2 ch, pre-skip 312, 48000 Hz
	tr, err := NewTrack(3, Opus, head)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00 02 0138 0000bb80 0000 00"); !bytes.Equal(tr.dops, want) {
		t.Errorf("dOps %x, want %x", tr.dops, want)
	}
	if tr.Channels != 2 || tr.SampleRate != 48000 || tr.Timescale != 48000 || tr.preSkip != 312 || tr.CodecString() != "opus" {
		t.Errorf("track %+v", tr)
	}
	var w boxBuf
	writeStsd(&w, &tr)
	want := unhex(t, `00000047 73747364 00000000 00000001
		00000037 4f707573 000000000000 0001 0000000000000000 0002 0010 00000000 bb800000
		  00000013 644f7073 00020138 0000bb80 000000`)
	if !bytes.Equal(w.b, want) {
		t.Errorf("got  %x\nwant %x", w.b, want)
	}
	// Mapping family 1 carries the channel mapping table.
	head6 := unhex(t, "4f707573486561640106380180bb0000000001 04 02 000401020305")
	tr, err = NewTrack(3, Opus, head6)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00 06 0138 0000bb80 0000 01 04 02 000401020305"); !bytes.Equal(tr.dops, want) {
		t.Errorf("dOps %x, want %x", tr.dops, want)
	}
}

// TestGoldenInit checks the box tree of a one-track init segment and the
// bytes of its ftyp, mvhd next_track_ID and trex.
func TestGoldenInit(t *testing.T) {
	tr, err := NewTrack(1, AAC, []byte{0x11, 0x90})
	if err != nil {
		t.Fatal(err)
	}
	tr.Language = "eng"
	b, err := AppendInit(nil, []Track{tr})
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0000001c 66747970 69736f35 00000200 69736f35 69736f36 6d703431"); !bytes.HasPrefix(b, want) {
		t.Errorf("ftyp %x, want %x", b[:28], want)
	}
	var tree []string
	var walk func(b []byte, depth int)
	walk = func(b []byte, depth int) {
		boxes, err := readBoxes(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, bx := range boxes {
			tree = append(tree, strings.Repeat(" ", depth)+bx.typ)
			switch bx.typ {
			case "moov", "trak", "mdia", "minf", "stbl", "mvex", "dinf":
				walk(bx.body, depth+1)
			}
		}
	}
	walk(b, 0)
	want := `ftyp moov  mvhd  trak   tkhd   mdia    mdhd    hdlr    minf     smhd     dinf      dref     stbl      stsd      stts      stsc      stco      stsz  mvex   trex`
	if strings.Join(tree, " ") != want {
		t.Errorf("box tree:\n%s\nwant\n%s", strings.Join(tree, " "), want)
	}
	trex, err := child(b, "moov", "mvex", "trex")
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00000000 00000001 00000001 00000000 00000000 00000000"); !bytes.Equal(trex, want) {
		t.Errorf("trex %x, want %x", trex, want)
	}
	mvhd, _ := child(b, "moov", "mvhd")
	if next := mvhd[len(mvhd)-4:]; !bytes.Equal(next, []byte{0, 0, 0, 2}) {
		t.Errorf("next_track_ID %x", next)
	}
	mdhd, _ := child(b, "moov", "trak", "mdia", "mdhd")
	// timescale 48000, duration 0, language "eng" = 0x15c7.
	if want := unhex(t, "00000000 00000000 00000000 0000bb80 00000000 15c7 0000"); !bytes.Equal(mdhd, want) {
		t.Errorf("mdhd %x, want %x", mdhd, want)
	}
}

func TestErrors(t *testing.T) {
	aac, err := NewTrack(1, AAC, []byte{0x12, 0x10})
	if err != nil {
		t.Fatal(err)
	}
	if aac.SampleRate != 44100 || aac.Channels != 2 || aac.CodecString() != "mp4a.40.2" {
		t.Errorf("AAC track %+v", aac)
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"id 0", func() error { _, err := NewTrack(0, AAC, []byte{0x12, 0x10}); return err }, ErrInvalidTrack},
		{"unknown codec", func() error { _, err := NewTrack(1, Codec(9), nil); return err }, ErrInvalidTrack},
		{"bad avcC", func() error { _, err := NewTrack(1, H264, []byte{1, 2, 3}); return err }, ErrCodecConfig},
		{"bad hvcC", func() error { _, err := NewTrack(1, H265, []byte{1, 2, 3}); return err }, ErrCodecConfig},
		{"empty ASC", func() error { _, err := NewTrack(1, AAC, nil); return err }, ErrCodecConfig},
		{"ASC rate index 13", func() error { _, err := NewTrack(1, AAC, []byte{0x16, 0x90}); return err }, ErrCodecConfig},
		{"not OpusHead", func() error { _, err := NewTrack(1, Opus, []byte("OpusTags...........")); return err }, ErrCodecConfig},
		{"zero-value track", func() error { return WriteInit(&bytes.Buffer{}, []Track{{ID: 1, Codec: AAC, Timescale: 1}}) }, ErrInvalidTrack},
		{"no tracks", func() error { return WriteInit(&bytes.Buffer{}, nil) }, ErrInvalidTrack},
		{"duplicate ID", func() error { return WriteInit(&bytes.Buffer{}, []Track{aac, aac}) }, ErrInvalidTrack},
		{"bad language", func() error { a := aac; a.Language = "EN"; return WriteInit(&bytes.Buffer{}, []Track{a}) }, ErrInvalidTrack},
		{"empty fragment", func() error { _, err := WriteFragment(&bytes.Buffer{}, 1, TrackFragment{TrackID: 1}); return err }, ErrInvalidSample},
		{"fragment track 0", func() error {
			_, err := WriteFragment(&bytes.Buffer{}, 1, TrackFragment{Samples: []Sample{{Data: []byte{1}}}})
			return err
		}, ErrInvalidSample},
		{"decode time backwards", func() error {
			_, err := WriteFragment(&bytes.Buffer{}, 1, TrackFragment{TrackID: 1, Samples: []Sample{{DecodeTime: 10}, {DecodeTime: 5}}})
			return err
		}, ErrInvalidSample},
		{"clip track index", func() error {
			_, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, []ClipSample{{Track: 1}})
			return err
		}, ErrInvalidSample},
		{"clip empty track", func() error { _, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, nil); return err }, ErrInvalidSample},
		{"clip backwards", func() error {
			_, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, []ClipSample{{DecodeTime: 5}, {DecodeTime: 4}})
			return err
		}, ErrInvalidSample},
		{"clip wrong size", func() error {
			cw, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, []ClipSample{{Size: 2}})
			if err != nil {
				return err
			}
			return cw.WriteSample([]byte{1})
		}, ErrSampleSize},
		{"clip too many", func() error {
			cw, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, []ClipSample{{Size: 1}})
			if err != nil {
				return err
			}
			if err := cw.WriteSample([]byte{1}); err != nil {
				return err
			}
			return cw.WriteSample([]byte{1})
		}, ErrSampleSize},
		{"clip closed early", func() error {
			cw, err := NewClipWriter(&bytes.Buffer{}, []Track{aac}, []ClipSample{{Size: 1}, {Size: 1}})
			if err != nil {
				return err
			}
			return cw.Close()
		}, ErrSampleSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

var errWrite = errors.New("write failed")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errWrite
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	frag := TrackFragment{TrackID: 1, Samples: []Sample{{Duration: 1, Keyframe: true, Data: []byte("abc")}}}
	if _, err := WriteFragment(&failWriter{n: 10}, 1, frag); !errors.Is(err, errWrite) {
		t.Errorf("header write: %v", err)
	}
	n, err := WriteFragment(&failWriter{n: 105}, 1, frag) // header is 104 bytes
	if !errors.Is(err, errWrite) || n != 105 {
		t.Errorf("data write: %d, %v", n, err)
	}
	aac, _ := NewTrack(1, AAC, []byte{0x12, 0x10})
	cw, err := NewClipWriter(&failWriter{n: 10}, []Track{aac}, []ClipSample{{Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteSample([]byte{1}); !errors.Is(err, errWrite) {
		t.Errorf("clip header write: %v", err)
	}
	if err := cw.Close(); !errors.Is(err, errWrite) {
		t.Errorf("Close after failure: %v", err)
	}
}
