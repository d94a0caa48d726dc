package fmp4

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

// TestClipStaggeredStart writes a clip whose audio starts half a second
// after the video and checks that the edit lists keep them in sync: the
// video's first presented frame (two frames after its first decode time,
// because of B-frames) is at 0 and the audio starts as much later as it
// did in the source.
func TestClipStaggeredStart(t *testing.T) {
	needFFmpeg(t)
	src := loadSource(t, "avc_aac.mp4")
	audio := src.samples[1]
	for len(audio) > 0 && float64(audio[0].DecodeTime)/float64(src.tracks[1].Timescale) < 0.5 {
		audio = audio[1:]
	}
	src.samples[1] = audio
	// Make the source's absolute times larger, as archived streams have.
	for ti := range src.samples {
		for k := range src.samples[ti] {
			src.samples[ti][k].DecodeTime += 3600 * uint64(src.tracks[ti].Timescale)
		}
	}
	clip, data := interleave(src)
	var buf bytes.Buffer
	cw, err := NewClipWriter(&buf, src.tracks, clip)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if err := cw.WriteSample(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	res := probe(t, "staggered.mp4", buf.Bytes())
	videoStart := 2.0 / 25
	audioStart := float64(audio[0].DecodeTime-3600*uint64(src.tracks[1].Timescale))/float64(src.tracks[1].Timescale) - videoStart
	for i, want := range []float64{0, audioStart} {
		got, err := strconv.ParseFloat(res.Streams[i].StartTime, 64)
		if err != nil || math.Abs(got-want) > 0.002 {
			t.Errorf("stream %d start %s, want %.3f", i, res.Streams[i].StartTime, want)
		}
	}
	tracks, err := demuxProgressive(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if e := tracks[0].edits; len(e) != 1 || e[0].mediaTime != 2*3600 {
		t.Errorf("video edits %+v, want one starting at the 2-frame B-frame delay", e)
	}
	if e := tracks[1].edits; len(e) != 2 || e[0].mediaTime != -1 || math.Abs(float64(e[0].segmentDuration)-audioStart*1000) > 1 {
		t.Errorf("audio edits %+v, want an empty edit of %.0f ms first", e, audioStart*1000)
	}
}

// TestNegativeOffsets writes video whose composition offsets are shifted so
// that the first is 0 and reordered frames have negative offsets (trun and
// ctts version 1), as some muxers produce.
func TestNegativeOffsets(t *testing.T) {
	needFFmpeg(t)
	src := loadSource(t, "avc_aac.mp4")
	video := src.samples[0]
	shift := video[0].PresentationOffset
	negative := 0
	for k := range video {
		video[k].PresentationOffset -= shift
		if video[k].PresentationOffset < 0 {
			negative++
		}
	}
	if negative == 0 {
		t.Fatal("no negative offsets; source has no B-frames?")
	}
	tracks := src.tracks[:1]
	samples := [][]Sample{video}

	t.Run("fragmented", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteInit(&buf, tracks); err != nil {
			t.Fatal(err)
		}
		var fw FragmentWriter
		for i, f := range src.fragments(0) {
			if _, err := fw.WriteFragment(&buf, uint32(i+1), f...); err != nil {
				t.Fatal(err)
			}
		}
		checkProbe(t, probe(t, "neg.mp4", buf.Bytes()), true, tracks, samples)
	})
	t.Run("clip", func(t *testing.T) {
		clip := make([]ClipSample, len(video))
		for k, s := range video {
			clip[k] = ClipSample{DecodeTime: s.DecodeTime, PresentationOffset: s.PresentationOffset,
				Duration: s.Duration, Size: uint32(len(s.Data)), Keyframe: s.Keyframe}
		}
		var buf bytes.Buffer
		cw, err := NewClipWriter(&buf, tracks, clip)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range video {
			if err := cw.WriteSample(s.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		ctts, err := child(buf.Bytes(), "moov", "trak", "mdia", "minf", "stbl", "ctts")
		if err != nil || ctts[0] != 1 {
			t.Fatalf("ctts version %v, %v; want 1", ctts[:1], err)
		}
		checkProbe(t, probe(t, "neg_clip.mp4", buf.Bytes()), false, tracks, samples)
	})
}

// TestDerivedDurations leaves every Duration zero and checks that the
// written durations come from the decode times.
func TestDerivedDurations(t *testing.T) {
	src := loadSource(t, "hevc_opus.mp4")
	var buf bytes.Buffer
	if err := WriteInit(&buf, src.tracks); err != nil {
		t.Fatal(err)
	}
	frags := src.fragments(0, 1)
	var fw FragmentWriter
	for i, f := range frags {
		for ti := range f {
			zeroed := append([]Sample(nil), f[ti].Samples...)
			for k := range zeroed {
				zeroed[k].Duration = 0
			}
			f[ti].Samples = zeroed
		}
		if _, err := fw.WriteFragment(&buf, uint32(i+1), f...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := demuxFragmented(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for ti := range got {
		ss := got[ti].samples
		for k := range ss {
			want := src.samples[ti][k].Duration
			// A fragment's last sample repeats the duration before it.
			if k+1 < len(ss) && ss[k+1].dts != ss[k].dts+uint64(ss[k].duration) {
				t.Fatalf("track %d sample %d: dts %d + %d != next %d", ti, k, ss[k].dts, ss[k].duration, ss[k+1].dts)
			}
			if ss[k].duration != want && (k == 0 || ss[k].duration != ss[k-1].duration) {
				t.Errorf("track %d sample %d: duration %d, want %d", ti, k, ss[k].duration, want)
			}
		}
	}
}
