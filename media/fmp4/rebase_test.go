package fmp4

import (
	"bytes"
	"errors"
	"testing"
)

// rebaseSegment is a fragment of two tracks whose first decode times are
// video and audio.
func rebaseSegment(t testing.TB, video, audio uint64) []byte {
	t.Helper()
	var fw FragmentWriter
	b, err := fw.AppendFragment(nil, 1,
		TrackFragment{TrackID: 1, Samples: []Sample{{DecodeTime: video, Duration: 3600, Keyframe: true, Data: []byte{1, 2}}, {DecodeTime: video + 3600, PresentationOffset: 3600, Data: []byte{3}}}},
		TrackFragment{TrackID: 2, Samples: []Sample{{DecodeTime: audio, Duration: 1024, Keyframe: true, Data: []byte{4}}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendRebased(t *testing.T) {
	tracks := fuzzTracks(t)
	init, err := AppendInit(nil, tracks)
	if err != nil {
		t.Fatal(err)
	}
	// Producer time in 2026: 1.77e9 s at 90 kHz and 48 kHz (64-bit
	// tfdt); a small one keeps its 32-bit tfdt.
	const epochVideo, epochAudio = 1_772_366_400 * 90000, 1_772_366_400 * 48000
	for _, tc := range []struct {
		name                     string
		video, audio             uint64
		shiftVideo, shiftAudio   uint64
		wantVideo, wantAudio     uint64
		shiftOfTrack3NeverCalled bool
	}{
		{"epoch to session start", epochVideo + 90000, epochAudio + 48000, epochVideo, epochAudio, 90000, 48000, true},
		{"32-bit tfdt", 180000, 96000, 90000, 48000, 90000, 48000, true},
		{"before the base is clamped to 0", 1000, 2000, 90000, 48000, 0, 0, true},
		{"no shift", epochVideo, epochAudio, 0, 0, epochVideo, epochAudio, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := rebaseSegment(t, tc.video, tc.audio)
			orig := bytes.Clone(seg)
			out, err := AppendRebased([]byte("prefix"), seg, func(id uint32) uint64 {
				switch id {
				case 1:
					return tc.shiftVideo
				case 2:
					return tc.shiftAudio
				}
				t.Fatalf("shift of track %d", id)
				return 0
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(seg, orig) {
				t.Fatal("the source segment was changed")
			}
			if string(out[:6]) != "prefix" || len(out) != 6+len(seg) {
				t.Fatalf("appended %d bytes to the prefix, want %d", len(out)-6, len(seg))
			}
			got, err := demuxFragmented(append(bytes.Clone(init), out[6:]...))
			if err != nil {
				t.Fatal(err)
			}
			if d := got[0].samples[0].dts; d != tc.wantVideo {
				t.Errorf("video tfdt %d, want %d", d, tc.wantVideo)
			}
			if d := got[0].samples[1].dts; d != tc.wantVideo+3600 {
				t.Errorf("second video sample at %d, want %d", d, tc.wantVideo+3600)
			}
			if d := got[1].samples[0].dts; d != tc.wantAudio {
				t.Errorf("audio tfdt %d, want %d", d, tc.wantAudio)
			}
			if !bytes.Equal(got[0].samples[0].data, []byte{1, 2}) || got[0].samples[1].cto != 3600 {
				t.Error("sample data or offsets changed")
			}
		})
	}
}

func TestAppendRebasedRefusesDamage(t *testing.T) {
	seg := rebaseSegment(t, 90000, 48000)
	shift := func(uint32) uint64 { return 1 }
	for _, tc := range []struct {
		name string
		seg  []byte
	}{
		{"truncated", seg[:len(seg)-1]},
		{"trailing bytes", append(bytes.Clone(seg), 0, 0, 0)},
		{"box larger than the segment", func() []byte { b := bytes.Clone(seg); b[3] = 0xff; b[2] = 0xff; return b }()},
		{"size below its header", []byte{0, 0, 0, 4, 'm', 'o', 'o', 'f'}},
		{"tfdt without tfhd", []byte("\x00\x00\x00\x1cmoof\x00\x00\x00\x14traf\x00\x00\x00\x0ctfdt\x00\x00\x00\x00")},
		{"tfdt version 2", []byte("\x00\x00\x00\x30moof\x00\x00\x00\x28traf\x00\x00\x00\x10tfhd\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x10tfdt\x02\x00\x00\x00\x00\x00\x00\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := AppendRebased([]byte("x"), tc.seg, shift)
			if !errors.Is(err, ErrInvalidSegment) {
				t.Fatalf("err %v, want ErrInvalidSegment", err)
			}
			if string(out) != "x" {
				t.Fatalf("dst %q after an error, want it unchanged", out)
			}
		})
	}
}

// FuzzAppendRebased: any input is copied unchanged in length, and a
// segment it accepts keeps every byte outside the tfdt values.
func FuzzAppendRebased(f *testing.F) {
	f.Add(rebaseSegment(f, 1_772_366_400*90000, 1_772_366_400*48000), uint64(1_772_366_400*90000))
	f.Add(rebaseSegment(f, 90000, 48000), uint64(0))
	f.Add([]byte("\x00\x00\x00\x08moof"), uint64(5))
	f.Fuzz(func(t *testing.T, seg []byte, shift uint64) {
		out, err := AppendRebased(nil, seg, func(uint32) uint64 { return shift })
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("%d bytes returned with %v", len(out), err)
			}
			return
		}
		if len(out) != len(seg) {
			t.Fatalf("%d bytes out, %d in", len(out), len(seg))
		}
		again, err := AppendRebased(nil, out, func(uint32) uint64 { return 0 })
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a zero shift changed an accepted segment: %v", err)
		}
	})
}
