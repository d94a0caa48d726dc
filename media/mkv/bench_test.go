package mkv

import (
	"bytes"
	"io"
	"testing"
)

// benchStream builds a KVS-producer-like stream: one H.264 track and one
// AAC track, clusters of 2 s at 30 fps with frameSize-byte video frames
// and 50 audio frames of 300 bytes, unknown-size or known-size clusters.
func benchStream(b *testing.B, clusters, frameSize int, unknown bool) []byte {
	b.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteHeader(testTracks); err != nil {
		b.Fatal(err)
	}
	video := bytes.Repeat([]byte{0x55}, frameSize)
	audio := bytes.Repeat([]byte{0x21}, 300)
	for c := range clusters {
		var frames []Frame
		for i := range 60 {
			frames = append(frames, Frame{Track: 1, Timecode: int16(i * 33), Keyframe: i == 0, Data: video})
			if i%6 < 5 {
				frames = append(frames, Frame{Track: 2, Timecode: int16(i * 33), Keyframe: true, Data: audio})
			}
		}
		tc := uint64(c * 2000)
		if unknown {
			if err := w.BeginCluster(tc); err != nil {
				b.Fatal(err)
			}
			for _, f := range frames {
				if err := w.WriteFrame(f); err != nil {
					b.Fatal(err)
				}
			}
		} else if err := w.WriteCluster(tc, frames); err != nil {
			b.Fatal(err)
		}
	}
	return buf.Bytes()
}

func benchmarkRead(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rd := bytes.NewReader(data)
	frames := 0
	for b.Loop() {
		rd.Reset(data)
		r := NewReader(rd, ReaderConfig{})
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if ev == EventCluster {
				frames += len(r.Cluster().Frames)
			}
		}
	}
	if frames == 0 {
		b.Fatal("no frames read")
	}
}

// BenchmarkReadClusters measures demuxing throughput (MB/s of stream).
func BenchmarkReadClusters(b *testing.B) {
	b.Run("unknown-size/16KB-frames", func(b *testing.B) {
		benchmarkRead(b, benchStream(b, 20, 16<<10, true))
	})
	b.Run("known-size/16KB-frames", func(b *testing.B) {
		benchmarkRead(b, benchStream(b, 20, 16<<10, false))
	})
	b.Run("unknown-size/2KB-frames", func(b *testing.B) {
		benchmarkRead(b, benchStream(b, 20, 2<<10, true))
	})
	b.Run("ffmpeg-h264-aac", func(b *testing.B) {
		benchmarkRead(b, readTestFile(b, "h264_aac.mkv"))
	})
}

// BenchmarkWriteCluster measures encoding one 2-second cluster of 60 video
// frames of 16 KB and 50 audio frames.
func BenchmarkWriteCluster(b *testing.B) {
	video := bytes.Repeat([]byte{0x55}, 16<<10)
	audio := bytes.Repeat([]byte{0x21}, 300)
	var frames []Frame
	size := 0
	for i := range 60 {
		frames = append(frames, Frame{Track: 1, Timecode: int16(i * 33), Keyframe: i == 0, Data: video})
		size += len(video)
		if i%6 < 5 {
			frames = append(frames, Frame{Track: 2, Timecode: int16(i * 33), Keyframe: true, Data: audio})
			size += len(audio)
		}
	}
	w, err := NewWriter(io.Discard, WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteCluster(1000, frames); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteGetMediaChunk measures one GetMedia chunk from stored
// parts: header with raw Tracks, Tags, raw Cluster, Tags.
func BenchmarkWriteGetMediaChunk(b *testing.B) {
	data := benchStream(b, 1, 16<<10, false)
	res, err := readAll(b, data, ReaderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	rawTracks, rawCluster := res.tracks[0].Raw, res.clusters[0].Raw
	w, err := NewWriter(io.Discard, WriterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	tags := []SimpleTag{
		{Name: TagFragmentNumber, String: "91343852333181432392682062607743920146264440066"},
		{Name: TagServerTimestamp, String: "1700000000.123"},
		{Name: TagProducerTimestamp, String: "1700000000.100"},
	}
	b.SetBytes(int64(len(rawCluster)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteHeaderRaw(rawTracks); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteTags(tags...); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteRaw(rawCluster); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteTags(SimpleTag{Name: TagMillisBehindNow, String: "0"}, SimpleTag{Name: TagContinuationToken, String: tags[0].String}); err != nil {
			b.Fatal(err)
		}
	}
}
