package mkv

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader. It must never panic, must
// fail only with the package's sentinel errors, and every Cluster it
// returns must be a well-formed known-size element whose frames lie inside
// it and which reads back the same after being written again.
func FuzzReader(f *testing.F) {
	// Small ffmpeg-made files keep mutation and minimization fast; the
	// 40 KB test files are represented by their first 4 KB.
	f.Add(readTestFile(f, "seed_h264_opus_live.mkv"))
	f.Add(readTestFile(f, "seed_h265.mkv"))
	for _, tc := range ffmpegFiles {
		f.Add(readTestFile(f, tc.name)[:4096])
	}
	f.Add(stream(cluster(10, el(IDSimpleBlock, blockBody(1, 5, 0x86, 2, 0x83, 0xC0, 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c')))))
	f.Add(stream(elUnknown(IDCluster, u(IDTimestamp, 1), el(IDBlockGroup, el(IDBlock, blockBody(1, 0, 0x02, 1, 1, 'a', 'b')), u(IDReferenceBlock, 1)))))
	f.Add(stream(el(IDTags, el(IDTag, el(IDSimpleTag, str(IDTagName, "a"), el(IDSimpleTag, str(IDTagName, "b"))))), cluster(0, el(IDSimpleBlock, blockBody(1, 0, 0x84, 3, 1, 2, 3, 4)))))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := ReaderConfig{MaxElementSize: 1 << 16, MaxClusterSize: 1 << 20, MaxFrames: 1 << 12, BufferSize: 16}
		r := NewReader(bytes.NewReader(data), cfg)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("error without a sentinel: %v", err)
				}
				return
			}
			if ev != EventCluster {
				continue
			}
			c := r.Cluster()
			id, size, n, err := ParseElementHeader(c.Raw)
			if err != nil || id != IDCluster || size != int64(len(c.Raw)-n) {
				t.Fatalf("bad Raw header: %X %d %d %v", id, size, n, err)
			}
			for _, fr := range c.Frames {
				if fr.Offset < n || fr.Offset+len(fr.Data) > len(c.Raw) {
					t.Fatalf("frame outside Raw")
				}
			}
			checkRewrite(t, r.Tracks(), c, cfg)
		}
	})
}

// checkRewrite writes c again as its own document and reads it back.
func checkRewrite(t *testing.T, tracks *Tracks, c *Cluster, cfg ReaderConfig) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterConfig{})
	if err := w.WriteHeaderRaw(tracks.Raw); err != nil {
		t.Fatalf("WriteHeaderRaw: %v", err)
	}
	_ = w.WriteRaw(c.Raw)
	r := NewReader(&buf, cfg)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatalf("rewritten cluster not read back")
			}
			t.Fatalf("rewritten cluster: %v", err)
		}
		if ev == EventCluster {
			break
		}
	}
	got := r.Cluster()
	if got.Timecode != c.Timecode || len(got.Frames) != len(c.Frames) || !bytes.Equal(got.Raw, c.Raw) {
		t.Fatalf("rewritten cluster differs")
	}
	for i := range got.Frames {
		a, b := got.Frames[i], c.Frames[i]
		if a.Track != b.Track || a.Timecode != b.Timecode || a.Keyframe != b.Keyframe || !bytes.Equal(a.Data, b.Data) {
			t.Fatalf("rewritten frame %d differs", i)
		}
	}
}
