package mkv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testTracks = []Track{
	{
		Number: 1, UID: 0x1111, Type: TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC", Name: "video",
		CodecPrivate:    []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80},
		DefaultDuration: 40_000_000, Video: &VideoTrack{PixelWidth: 1280, PixelHeight: 720},
	},
	{
		Number: 2, UID: 0x2222, Type: TrackTypeAudio, CodecID: "A_AAC", Language: "eng",
		CodecPrivate: []byte{0x11, 0x90}, Audio: &AudioTrack{SamplingFrequency: 48000, Channels: 2},
	},
}

func testFrames(n int, size int) []Frame {
	frames := make([]Frame, n)
	for i := range frames {
		data := bytes.Repeat([]byte{byte(i)}, size+i)
		frames[i] = Frame{Track: uint64(1 + i%2), Timecode: int16(i * 20), Keyframe: i == 0 || i%2 == 1, Data: data}
	}
	return frames
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	frames := testFrames(6, 100)
	now := time.UnixMilli(1_700_000_000_123)
	steps := []func() error{
		func() error { return w.WriteHeader(testTracks) },
		func() error {
			return w.WriteTags(
				SimpleTag{Name: TagFragmentNumber, String: "91343852333181432392682062607743920146264440066"},
				SimpleTag{Name: TagServerTimestamp, String: FormatTimestamp(now)},
				SimpleTag{Name: "nested", String: "a", Tags: []SimpleTag{{Name: "child", String: "b"}}},
			)
		},
		func() error { return w.WriteCluster(1000, frames) },
		func() error { return w.WriteTags(SimpleTag{Name: TagMillisBehindNow, String: "42"}) },
		func() error { return w.BeginCluster(2000) },
		func() error { return w.WriteFrame(frames[0]) },
		func() error { return w.WriteFrame(frames[1]) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	res, err := readAll(t, buf.Bytes(), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []Event{EventHeader, EventInfo, EventTracks, EventTags, EventClusterStart, EventCluster, EventTags, EventClusterStart, EventCluster}
	if !equalEvents(res.events, wantEvents) {
		t.Fatalf("events = %v, want %v", res.events, wantEvents)
	}
	h := res.headers[0]
	if h.DocType != "matroska" || h.SegmentSize != UnknownSize {
		t.Errorf("header = %+v", h)
	}
	if in := res.info[0]; in.TimecodeScale != 1_000_000 || in.MuxingApp != "openkvs" || in.WritingApp != "openkvs" {
		t.Errorf("info = %+v", in)
	}
	for i, want := range testTracks {
		got := res.tracks[0].Entries[i]
		if got.Number != want.Number || got.UID != want.UID || got.Type != want.Type || got.CodecID != want.CodecID ||
			!bytes.Equal(got.CodecPrivate, want.CodecPrivate) || got.Name != want.Name || got.Language != want.Language ||
			got.DefaultDuration != want.DefaultDuration {
			t.Errorf("track %d = %+v, want %+v", i, got, want)
		}
		if (want.Video != nil) != (got.Video != nil) || want.Video != nil && *got.Video != *want.Video {
			t.Errorf("track %d video = %+v, want %+v", i, got.Video, want.Video)
		}
		if (want.Audio != nil) != (got.Audio != nil) || want.Audio != nil && *got.Audio != *want.Audio {
			t.Errorf("track %d audio = %+v, want %+v", i, got.Audio, want.Audio)
		}
	}
	if fn, _ := res.tags[0].Lookup(TagFragmentNumber); fn != "91343852333181432392682062607743920146264440066" {
		t.Errorf("fragment number tag = %q", fn)
	}
	if ts, _ := res.tags[0].Lookup(TagServerTimestamp); ts != "1700000000.123" {
		t.Errorf("server timestamp tag = %q", ts)
	}
	if c, _ := res.tags[0].Lookup("child"); c != "b" {
		t.Errorf("nested tag = %q", c)
	}
	if mb, _ := res.tags[1].Lookup(TagMillisBehindNow); mb != "42" {
		t.Errorf("millis behind tag = %q", mb)
	}
	c0, c1 := res.clusters[0], res.clusters[1]
	if c0.Timecode != 1000 || c0.UnknownSize || c1.Timecode != 2000 || !c1.UnknownSize {
		t.Errorf("clusters = %d/%v, %d/%v", c0.Timecode, c0.UnknownSize, c1.Timecode, c1.UnknownSize)
	}
	checkFrames(t, c0.Frames, frames)
	checkFrames(t, c1.Frames, frames[:2])

	// The fast path: a stored stream header and raw cluster written again
	// as a new document read back identically.
	var again bytes.Buffer
	w2, _ := NewWriter(&again, WriterConfig{DocType: "webm"})
	if err := w2.WriteHeaderRaw(res.tracks[0].Raw); err != nil {
		t.Fatal(err)
	}
	if err := w2.WriteRaw(c1.Raw); err != nil {
		t.Fatal(err)
	}
	res2, err := readAll(t, again.Bytes(), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res2.headers[0].DocType != "webm" || len(res2.clusters) != 1 || !bytes.Equal(res2.clusters[0].Raw, c1.Raw) {
		t.Fatalf("raw rewrite: headers %+v, %d clusters", res2.headers, len(res2.clusters))
	}
	if !bytes.Equal(res2.tracks[0].Raw, res.tracks[0].Raw) {
		t.Errorf("Tracks.Raw changed on rewrite")
	}
	checkFrames(t, res2.clusters[0].Frames, frames[:2])
}

func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkFrames(t *testing.T, got, want []Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Track != w.Track || g.Timecode != w.Timecode || g.Keyframe != w.Keyframe || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("frame %d = {%d %d %v %d bytes}, want {%d %d %v %d bytes}", i,
				g.Track, g.Timecode, g.Keyframe, len(g.Data), w.Track, w.Timecode, w.Keyframe, len(w.Data))
		}
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(&bytes.Buffer{}, WriterConfig{DocType: "avi"}); err == nil {
		t.Error("NewWriter accepted DocType avi")
	}
	w, _ := NewWriter(&bytes.Buffer{}, WriterConfig{})
	if err := w.WriteHeader(nil); err == nil {
		t.Error("WriteHeader accepted no tracks")
	}
	if err := w.WriteHeaderRaw([]byte{0x1F, 0x43, 0xB6, 0x75, 0x80}); err == nil {
		t.Error("WriteHeaderRaw accepted a Cluster")
	}
	if err := w.WriteFrame(Frame{Track: 1}); err == nil {
		t.Error("WriteFrame accepted a frame outside a cluster")
	}
	if err := w.WriteCluster(0, []Frame{{Track: 0}}); err == nil {
		t.Error("WriteCluster accepted track 0")
	}
}

// remux reads an ffmpeg test file and writes it again with Writer the way a
// KVS producer does: a new unknown-size Cluster at each video keyframe,
// SimpleBlocks, fragment metadata Tags before each Cluster, and when
// restart is set a new EBML document (header, Info, Tracks) per fragment as
// GetMedia sends. It returns the packets written.
func remux(t *testing.T, name string, restart bool) ([]byte, []packet) {
	t.Helper()
	res, err := readAll(t, readTestFile(t, name), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tracks := res.tracks[0]
	type absFrame struct {
		f   Frame
		pts int64
	}
	var all []absFrame
	for _, c := range res.clusters {
		for _, f := range c.Frames {
			all = append(all, absFrame{f, c.Time(&f)})
		}
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(tracks.Entries); err != nil {
		t.Fatal(err)
	}
	var written []packet
	var clusterTC int64 = -1
	fragment := 0
	for _, a := range all {
		if a.f.Track == 1 && a.f.Keyframe {
			clusterTC = a.pts
			fragment++
			if restart && fragment > 1 {
				if err := w.WriteHeaderRaw(tracks.Raw); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteTags(SimpleTag{Name: TagFragmentNumber, String: strings.Repeat("9", 40) + string(rune('0'+fragment))}); err != nil {
				t.Fatal(err)
			}
			if err := w.BeginCluster(uint64(clusterTC)); err != nil {
				t.Fatal(err)
			}
		}
		if clusterTC < 0 {
			continue // frames before the first video keyframe
		}
		f := a.f
		f.Timecode = int16(a.pts - clusterTC)
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		written = append(written, packet{track: f.Track, pts: a.pts, size: len(f.Data), key: f.Keyframe})
	}
	return out.Bytes(), written
}

func TestWriterOutputReadsBack(t *testing.T) {
	for _, restart := range []bool{false, true} {
		data, written := remux(t, "h264_aac.mkv", restart)
		res, err := readAll(t, data, ReaderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		comparePackets(t, res.packets, written)
		wantHeaders := 1
		if restart {
			wantHeaders = 4
		}
		if len(res.headers) != wantHeaders || len(res.clusters) != 4 {
			t.Errorf("restart=%v: %d headers, %d clusters", restart, len(res.headers), len(res.clusters))
		}
		for _, c := range res.clusters {
			if !c.UnknownSize || len(c.Frames) == 0 || c.Frames[0].Track != 1 || !c.Frames[0].Keyframe {
				t.Errorf("cluster at %d does not start with a video keyframe", c.Offset)
			}
		}
	}
}

// TestWriterOutputFFprobe checks that ffprobe accepts Writer output without
// complaint and sees exactly the packets written.
func TestWriterOutputFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	for _, name := range []string{"h264_aac.mkv", "h265_opus.mkv"} {
		t.Run(name, func(t *testing.T) {
			data, written := remux(t, name, false)
			path := filepath.Join(t.TempDir(), "out.mkv")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("ffprobe", "-v", "warning", "-show_entries", "stream=codec_name,width,height,sample_rate", "-of", "csv=p=0", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() != 0 {
				t.Fatalf("ffprobe: %v: %s", err, stderr.String())
			}
			if !strings.Contains(string(out), "320,240") || !strings.Contains(string(out), "48000") {
				t.Errorf("ffprobe streams:\n%s", out)
			}
			want := ffprobePackets(t, path)
			// ffprobe shifts Opus timestamps by CodecDelay.
			if strings.Contains(name, "opus") {
				for i := range want {
					if want[i].track == 2 {
						want[i].pts += 7
					}
				}
			}
			comparePackets(t, written, want)
		})
	}
}

func TestFormatTimestamp(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{1_700_000_000_123, "1700000000.123"},
		{1_700_000_000_005, "1700000000.005"},
		{0, "0.000"},
	} {
		got := FormatTimestamp(time.UnixMilli(tc.ms))
		if got != tc.want {
			t.Errorf("FormatTimestamp(%d) = %q, want %q", tc.ms, got, tc.want)
		}
		back, err := ParseTimestamp(got)
		if err != nil || back.UnixMilli() != tc.ms {
			t.Errorf("ParseTimestamp(%q) = %v, %v", got, back.UnixMilli(), err)
		}
	}
	if !IsReservedTagName(TagFragmentNumber) || IsReservedTagName("camera") {
		t.Error("IsReservedTagName")
	}
}
