package mkv

import (
	"bytes"
	"io"
	"testing"
)

// TestReaderReleasesClusterBuffer: once the caller asks for the next event
// after a Cluster, the Reader no longer holds that Cluster's buffer (an
// idle live stream waiting for its next Cluster costs no Cluster memory),
// and Clusters read through reused buffers keep their own bytes.
func TestReaderReleasesClusterBuffer(t *testing.T) {
	var doc bytes.Buffer
	w, err := NewWriter(&doc, WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(testTracks); err != nil {
		t.Fatal(err)
	}
	big, small := testFrames(4, 100_000), testFrames(2, 10)
	for i, frames := range [][]Frame{big, small, big} {
		if err := w.WriteCluster(uint64(i)*1000, frames); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bytes.NewReader(doc.Bytes()), ReaderConfig{})
	var sizes []int
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev == EventClusterStart && r.cluster.buf == nil {
			t.Fatal("an open Cluster has no buffer")
		}
		if ev != EventCluster {
			continue
		}
		c := r.Cluster()
		want := big
		if len(sizes) == 1 {
			want = small
		}
		if len(c.Frames) != len(want) {
			t.Fatalf("cluster %d: %d frames, want %d", len(sizes), len(c.Frames), len(want))
		}
		for k, f := range c.Frames {
			if !bytes.Equal(f.Data, want[k].Data) {
				t.Fatalf("cluster %d frame %d differs", len(sizes), k)
			}
		}
		sizes = append(sizes, len(c.Raw))
	}
	if len(sizes) != 3 {
		t.Fatalf("read %d clusters, want 3", len(sizes))
	}
	if r.cluster.buf != nil || r.cluster.Raw != nil {
		t.Fatalf("after the last Cluster the Reader still holds %d bytes", cap(r.cluster.buf))
	}
	for _, f := range r.cluster.Frames[:cap(r.cluster.Frames)] {
		if f.Data != nil {
			t.Fatal("a released Cluster's frames still alias its buffer")
		}
	}
}
