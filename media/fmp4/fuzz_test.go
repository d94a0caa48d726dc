package fmp4

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzNewTrack feeds arbitrary codec private data to NewTrack; whatever it
// accepts must produce an init segment whose sample entry gives the same
// codec private data back.
func FuzzNewTrack(f *testing.F) {
	for _, name := range []string{"avc_aac.mp4", "hevc_opus.mp4"} {
		tracks, err := demuxProgressive(readTestdata(f, name))
		if err != nil {
			f.Fatal(err)
		}
		for _, t := range tracks {
			f.Add(uint8(t.codec), t.config)
		}
	}
	f.Add(uint8(AAC), []byte{0xf8, 0x80, 0x00, 0x00, 0x00}) // AOT escape, explicit rate
	f.Add(uint8(AAC), []byte{0x2b, 0x92, 0x08, 0x00})       // HE-AAC explicit SBR
	f.Fuzz(func(t *testing.T, codec uint8, cp []byte) {
		tr, err := NewTrack(1, Codec(codec), cp)
		if err != nil {
			return
		}
		init, err := AppendInit(nil, []Track{tr})
		if err != nil {
			// Only a picture size out of range may be refused.
			if tr.Codec.IsVideo() && (tr.Width > 0xffff || tr.Height > 0xffff) {
				return
			}
			t.Fatalf("AppendInit: %v", err)
		}
		got, err := demuxFragmented(init)
		if err != nil {
			t.Fatalf("reading our init segment: %v", err)
		}
		if len(got) != 1 || got[0].codec != tr.Codec || got[0].timescale != tr.Timescale {
			t.Fatalf("init segment tracks %+v", got)
		}
		if tr.Codec != Opus && !bytes.Equal(got[0].config, cp) {
			t.Fatalf("codec private %x, want %x", got[0].config, cp)
		}
	})
}

// FuzzReadBoxes checks the test-only reader never panics on any input.
func FuzzReadBoxes(f *testing.F) {
	f.Add(readTestdata(f, "avc_aac.mp4")[:2000])
	f.Add([]byte("\x00\x00\x00\x08moov"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = demuxProgressive(b)
		_, _ = demuxFragmented(b)
	})
}

// samplesFromFuzz turns fuzz bytes into a sample list: each 4 bytes give a
// track (bit 0), key flag (bit 1), a size and a duration.
func samplesFromFuzz(b []byte) []ClipSample {
	var out []ClipSample
	dts := [2]uint64{}
	for len(b) >= 4 && len(out) < 500 {
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		tr := int(v & 1)
		s := ClipSample{
			Track:      tr,
			DecodeTime: dts[tr],
			Duration:   v >> 20,
			Size:       (v >> 2) & 0x3ff,
			Keyframe:   v&2 != 0,
		}
		if tr == 0 {
			s.PresentationOffset = int32(v>>12&0xff) - 64
		}
		dts[tr] += uint64(s.Duration)
		out = append(out, s)
	}
	return out
}

func fuzzTracks(t *testing.T) []Track {
	avc, err := demuxProgressive(readTestdata(t, "avc_aac.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewTrack(1, H264, avc[0].config)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewTrack(2, AAC, avc[1].config)
	if err != nil {
		t.Fatal(err)
	}
	return []Track{v, a}
}

// FuzzClipWriter writes clips from arbitrary sample tables and reads them
// back with the test-only reader.
func FuzzClipWriter(f *testing.F) {
	f.Add([]byte{0, 0x10, 0x40, 0x12, 0, 0x10, 0, 0x0d, 0, 0x10, 0x50, 0x10, 0, 0x20, 0, 0x0d})
	f.Fuzz(func(t *testing.T, b []byte) {
		tracks := fuzzTracks(t)
		samples := samplesFromFuzz(b)
		var buf bytes.Buffer
		cw, err := NewClipWriter(&buf, tracks, samples)
		if err != nil {
			return // e.g. a track without samples
		}
		for i, s := range samples {
			data := bytes.Repeat([]byte{byte(i)}, int(s.Size))
			if err := cw.WriteSample(data); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != cw.Size() {
			t.Fatalf("wrote %d bytes, Size %d", buf.Len(), cw.Size())
		}
		got, err := demuxProgressive(buf.Bytes())
		if err != nil {
			t.Fatalf("reading our clip: %v", err)
		}
		next := [2]int{}
		for i, s := range samples {
			g := got[s.Track].samples[next[s.Track]]
			next[s.Track]++
			if len(g.data) != int(s.Size) || (s.Size > 0 && g.data[0] != byte(i)) {
				t.Fatalf("sample %d: data %x", i, g.data)
			}
			if s.Track == 0 && g.key != s.Keyframe {
				t.Fatalf("sample %d: key %v", i, g.key)
			}
		}
	})
}

// FuzzFragment writes fragments from arbitrary samples and reads them back.
func FuzzFragment(f *testing.F) {
	f.Add([]byte{0, 0x10, 0x40, 0x12, 0, 0x10, 0, 0x0d, 0, 0x10, 0x50, 0x10}, uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		tracks := fuzzTracks(t)
		cs := samplesFromFuzz(b)
		frags := []TrackFragment{{TrackID: 1}, {TrackID: 2}}
		for i, s := range cs {
			frags[s.Track].Samples = append(frags[s.Track].Samples, Sample{
				DecodeTime: s.DecodeTime, PresentationOffset: s.PresentationOffset, Duration: s.Duration,
				Keyframe: s.Keyframe, Data: bytes.Repeat([]byte{byte(i)}, int(s.Size)),
			})
		}
		file, err := AppendInit(nil, tracks)
		if err != nil {
			t.Fatal(err)
		}
		var fw FragmentWriter
		file, err = fw.AppendFragment(file, seq, frags...)
		if err != nil {
			if len(cs) == 0 {
				return
			}
			t.Fatal(err)
		}
		got, err := demuxFragmented(file)
		if err != nil {
			t.Fatalf("reading our fragment: %v", err)
		}
		for ti := range frags {
			want := frags[ti].Samples
			if len(got[ti].samples) != len(want) {
				t.Fatalf("track %d: %d samples, want %d", ti, len(got[ti].samples), len(want))
			}
			for k, g := range got[ti].samples {
				w := want[k]
				if g.dts != w.DecodeTime && w.Duration != 0 {
					t.Fatalf("track %d sample %d: dts %d, want %d", ti, k, g.dts, w.DecodeTime)
				}
				if !bytes.Equal(g.data, w.Data) || g.cto != w.PresentationOffset || g.key != w.Keyframe {
					t.Fatalf("track %d sample %d differs", ti, k)
				}
			}
		}
	})
}
