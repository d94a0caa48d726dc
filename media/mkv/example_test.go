package mkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/openkvs/openkvs/media/mkv"
)

// A PutMedia-style loop: one fragment per Cluster, with the fragment
// metadata Tags that precede it.
func ExampleReader() {
	stream := producerStream()
	r := mkv.NewReader(stream, mkv.ReaderConfig{MaxClusterSize: 50 << 20})
	var pending []mkv.Tag // fragment metadata seen since the last Cluster
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err) // PutMedia: ERROR ack, INVALID_MKV_DATA or MAX_FRAGMENT_SIZE_REACHED
		}
		switch ev {
		case mkv.EventTracks:
			fmt.Println("stream header:", len(r.Tracks().Entries), "track(s),", r.Tracks().Entries[0].CodecID)
		case mkv.EventTags:
			pending = append(pending, r.Tags().Tags...)
		case mkv.EventClusterStart:
			fmt.Println("BUFFERING", r.Cluster().Timecode)
		case mkv.EventCluster:
			c := r.Cluster()
			fmt.Printf("RECEIVED %d: %d frames, key=%v, %d tag(s), %d raw bytes\n",
				c.Timecode, len(c.Frames), c.Frames[0].Keyframe, len(pending), len(c.Raw))
			pending = pending[:0]
		}
	}
	// Output:
	// stream header: 1 track(s), V_MPEG4/ISO/AVC
	// BUFFERING 1000
	// RECEIVED 1000: 2 frames, key=true, 1 tag(s), 25 raw bytes
	// BUFFERING 2000
	// RECEIVED 2000: 1 frames, key=true, 0 tag(s), 18 raw bytes
}

// producerStream writes what a KVS producer sends: a header, then per
// fragment optional metadata Tags and an unknown-size Cluster.
func producerStream() io.Reader {
	var buf bytes.Buffer
	w, err := mkv.NewWriter(&buf, mkv.WriterConfig{})
	if err != nil {
		log.Fatal(err)
	}
	track := mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC",
		Video: &mkv.VideoTrack{PixelWidth: 640, PixelHeight: 480}}
	must(w.WriteHeader([]mkv.Track{track}))
	must(w.WriteTags(mkv.SimpleTag{Name: "camera", String: "door"}))
	must(w.BeginCluster(1000))
	must(w.WriteFrame(mkv.Frame{Track: 1, Keyframe: true, Data: []byte("idr")}))
	must(w.WriteFrame(mkv.Frame{Track: 1, Timecode: 33, Data: []byte("p")}))
	must(w.BeginCluster(2000))
	must(w.WriteFrame(mkv.Frame{Track: 1, Keyframe: true, Data: []byte("idr")}))
	return &buf
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// A GetMedia chunk built from what ingest stored: the raw Tracks element
// and a raw Cluster, wrapped in KVS tags.
func ExampleWriter_getMediaChunk() {
	// Stored parts (here taken from a Reader).
	r := mkv.NewReader(producerStream(), mkv.ReaderConfig{})
	var rawTracks, rawCluster []byte
	for rawCluster == nil {
		ev, err := r.Next()
		if err != nil {
			log.Fatal(err)
		}
		switch ev {
		case mkv.EventTracks:
			rawTracks = r.Tracks().Raw
		case mkv.EventCluster:
			rawCluster = r.Cluster().Clone().Raw
		}
	}

	var out bytes.Buffer
	w, err := mkv.NewWriter(&out, mkv.WriterConfig{})
	if err != nil {
		log.Fatal(err)
	}
	fn := "91343852333181432392682062607743920146264440066"
	must(w.WriteHeaderRaw(rawTracks))
	must(w.WriteTags(
		mkv.SimpleTag{Name: mkv.TagFragmentNumber, String: fn},
		mkv.SimpleTag{Name: mkv.TagServerTimestamp, String: "1700000000.123"},
		mkv.SimpleTag{Name: mkv.TagProducerTimestamp, String: "1700000000.100"},
	))
	must(w.WriteRaw(rawCluster))
	must(w.WriteTags(
		mkv.SimpleTag{Name: mkv.TagMillisBehindNow, String: "0"},
		mkv.SimpleTag{Name: mkv.TagContinuationToken, String: fn},
	))

	// Read it back as a GetMedia consumer would.
	r = mkv.NewReader(&out, mkv.ReaderConfig{})
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		switch ev {
		case mkv.EventTags:
			if v, ok := r.Tags().Lookup(mkv.TagFragmentNumber); ok {
				fmt.Println("fragment", v)
			}
			if v, ok := r.Tags().Lookup(mkv.TagMillisBehindNow); ok {
				fmt.Println("millis behind now", v)
			}
		case mkv.EventCluster:
			fmt.Println("cluster", r.Cluster().Timecode, "frames", len(r.Cluster().Frames))
		}
	}
	// Output:
	// fragment 91343852333181432392682062607743920146264440066
	// cluster 1000 frames 2
	// millis behind now 0
}
