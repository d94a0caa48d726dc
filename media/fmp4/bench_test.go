package fmp4

import (
	"io"
	"testing"
)

// benchFragment is a 2-second fragment of 30 fps video at about 4 Mbit/s
// and 48 kHz AAC at 128 kbit/s.
func benchFragment(b *testing.B) ([]TrackFragment, int64) {
	b.Helper()
	src := loadSource(b, "avc_aac.mp4")
	payload := make([]byte, 1<<20)
	video := TrackFragment{TrackID: src.tracks[0].ID}
	var n int64
	for i := range 60 {
		size := 15000
		if i == 0 {
			size = 120000
		}
		video.Samples = append(video.Samples, Sample{
			DecodeTime: uint64(i) * 3000, PresentationOffset: 6000, Duration: 3000,
			Keyframe: i == 0, Data: payload[:size],
		})
		n += int64(size)
	}
	audio := TrackFragment{TrackID: src.tracks[1].ID}
	for i := range 94 {
		audio.Samples = append(audio.Samples, Sample{
			DecodeTime: uint64(i) * 1024, Duration: 1024, Keyframe: true, Data: payload[:340],
		})
		n += 340
	}
	return []TrackFragment{video, audio}, n
}

func BenchmarkWriteFragment(b *testing.B) {
	frag, n := benchFragment(b)
	var fw FragmentWriter
	b.SetBytes(n)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := fw.WriteFragment(io.Discard, uint32(i+1), frag...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFragment copies the sample data into one buffer, as a
// server keeping segments in memory would.
func BenchmarkAppendFragment(b *testing.B) {
	frag, n := benchFragment(b)
	var fw FragmentWriter
	var buf []byte
	b.SetBytes(n)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		if buf, err = fw.AppendFragment(buf[:0], uint32(i+1), frag...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClipWriter(b *testing.B) {
	frag, n := benchFragment(b)
	src := loadSource(b, "avc_aac.mp4")
	var clip []ClipSample
	var data [][]byte
	for ti, tf := range frag {
		for _, s := range tf.Samples {
			clip = append(clip, ClipSample{Track: ti, DecodeTime: s.DecodeTime, PresentationOffset: s.PresentationOffset,
				Duration: s.Duration, Size: uint32(len(s.Data)), Keyframe: s.Keyframe})
			data = append(data, s.Data)
		}
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		cw, err := NewClipWriter(io.Discard, src.tracks, clip)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range data {
			if err := cw.WriteSample(d); err != nil {
				b.Fatal(err)
			}
		}
		if err := cw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
