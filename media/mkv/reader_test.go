package mkv

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// packet is one frame as the test compares it with ffprobe's packets.
type packet struct {
	track uint64
	pts   int64 // absolute, in ticks (ms for these files)
	size  int
	key   bool
}

// readResult is everything a test wants from reading a whole stream.
type readResult struct {
	events   []Event
	headers  []Header
	info     []*Info
	tracks   []*Tracks
	tags     []*Tags
	clusters []*Cluster
	packets  []packet
}

// readAll reads data to the end with a fresh Reader, checking event order
// and that each cluster's Raw matches the input when it had a known size.
func readAll(t testing.TB, data []byte, cfg ReaderConfig) (*readResult, error) {
	t.Helper()
	r := NewReader(bytes.NewReader(data), cfg)
	res := &readResult{}
	var startTC uint64
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		res.events = append(res.events, ev)
		switch ev {
		case EventHeader:
			res.headers = append(res.headers, r.Header())
		case EventInfo:
			res.info = append(res.info, r.Info())
		case EventTracks:
			res.tracks = append(res.tracks, r.Tracks())
		case EventTags:
			res.tags = append(res.tags, r.Tags())
		case EventClusterStart:
			startTC = r.Cluster().Timecode
		case EventCluster:
			c := r.Cluster()
			if c.Timecode != startTC {
				t.Errorf("cluster at %d: timecode %d at end, %d at start", c.Offset, c.Timecode, startTC)
			}
			if !c.UnknownSize && !bytes.Equal(c.Raw, data[c.Offset:c.Offset+int64(len(c.Raw))]) {
				t.Errorf("cluster at %d: Raw differs from the input bytes", c.Offset)
			}
			for i := range c.Frames {
				f := &c.Frames[i]
				if !bytes.Equal(f.Data, c.Raw[f.Offset:f.Offset+len(f.Data)]) {
					t.Errorf("cluster at %d frame %d: Data does not alias Raw at Offset", c.Offset, i)
				}
				res.packets = append(res.packets, packet{track: f.Track, pts: c.Time(f), size: len(f.Data), key: f.Keyframe})
			}
			res.clusters = append(res.clusters, c.Clone())
		}
	}
}

// trackFigures are the committed expected figures for one track of a test
// file, taken from `ffprobe -show_packets` (see testdata/README.md).
type trackFigures struct {
	codecID   string
	packets   int
	keyframes int
	bytes     int
}

var ffmpegFiles = []struct {
	name     string
	clusters int
	segment  int64 // declared Segment size, UnknownSize for live output
	width    uint64
	height   uint64
	rate     float64
	tracks   map[uint64]trackFigures
}{
	{
		name: "h264_aac.mkv", clusters: 4, segment: 40034, width: 320, height: 240, rate: 48000,
		tracks: map[uint64]trackFigures{
			1: {"V_MPEG4/ISO/AVC", 100, 4, 21114},
			2: {"A_AAC", 189, 189, 16324},
		},
	},
	{
		name: "h264_aac_live.mkv", clusters: 11, segment: UnknownSize, width: 320, height: 240, rate: 48000,
		tracks: map[uint64]trackFigures{
			1: {"V_MPEG4/ISO/AVC", 100, 4, 21114},
			2: {"A_AAC", 189, 189, 16324},
		},
	},
	{
		name: "h265_opus.mkv", clusters: 4, segment: 35045, width: 320, height: 240, rate: 48000,
		tracks: map[uint64]trackFigures{
			1: {"V_MPEGH/ISO/HEVC", 100, 4, 13634},
			2: {"A_OPUS", 201, 201, 16346},
		},
	},
}

func readTestFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReaderFFmpegFiles(t *testing.T) {
	for _, tc := range ffmpegFiles {
		t.Run(tc.name, func(t *testing.T) {
			res, err := readAll(t, readTestFile(t, tc.name), ReaderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.headers) != 1 || res.headers[0].DocType != "matroska" || res.headers[0].SegmentSize != tc.segment {
				t.Errorf("headers = %+v, want one matroska header with segment size %d", res.headers, tc.segment)
			}
			if len(res.info) != 1 || res.info[0].TimecodeScale != 1_000_000 {
				t.Errorf("info = %+v, want TimecodeScale 1000000", res.info)
			}
			if len(res.tracks) != 1 {
				t.Fatalf("got %d Tracks events, want 1", len(res.tracks))
			}
			if len(res.tags) == 0 {
				t.Errorf("no Tags event")
			} else if enc, ok := res.tags[0].Lookup("ENCODER"); !ok || !strings.HasPrefix(enc, "Lavf") {
				t.Errorf("Tags ENCODER = %q, %v", enc, ok)
			}
			if len(res.clusters) != tc.clusters {
				t.Errorf("got %d clusters, want %d", len(res.clusters), tc.clusters)
			}
			tracks := res.tracks[0]
			if v := tracks.Track(1); v == nil || v.Video == nil || v.Video.PixelWidth != tc.width || v.Video.PixelHeight != tc.height || len(v.CodecPrivate) == 0 || v.Type != TrackTypeVideo {
				t.Errorf("video track = %+v", v)
			}
			if a := tracks.Track(2); a == nil || a.Audio == nil || a.Audio.SamplingFrequency != tc.rate || a.Audio.Channels != 1 || a.Type != TrackTypeAudio {
				t.Errorf("audio track = %+v", a)
			}
			got := map[uint64]trackFigures{}
			for _, p := range res.packets {
				f := got[p.track]
				f.packets++
				f.bytes += p.size
				if p.key {
					f.keyframes++
				}
				got[p.track] = f
			}
			for n, want := range tc.tracks {
				g := got[n]
				g.codecID = tracks.Track(n).CodecID
				if g != want {
					t.Errorf("track %d: got %+v, want %+v", n, g, want)
				}
			}
			if res.events[0] != EventHeader || res.events[1] != EventInfo {
				t.Errorf("events start %v, want Header, Info", res.events[:2])
			}
		})
	}
}

// ffprobePackets runs ffprobe on a file and returns its packets in file
// order; stream index i is track i+1 in the test files.
func ffprobePackets(t *testing.T, path string) []packet {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed")
	}
	out, err := exec.Command(bin, "-v", "error", "-show_entries", "packet=stream_index,pts,size,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var pkts []packet
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// stream_index,pts,size,flags
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(f) < 4 {
			continue
		}
		idx, err1 := strconv.Atoi(f[0])
		pts, err2 := strconv.ParseInt(f[1], 10, 64)
		size, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("ffprobe line %q", sc.Text())
		}
		pkts = append(pkts, packet{track: uint64(idx) + 1, pts: pts, size: size, key: strings.Contains(f[3], "K")})
	}
	return pkts
}

func TestReaderMatchesFFprobe(t *testing.T) {
	for _, tc := range ffmpegFiles {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name)
			want := ffprobePackets(t, path)
			res, err := readAll(t, readTestFile(t, tc.name), ReaderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			// ffmpeg shifts timestamps back by CodecDelay (Opus), rounded to
			// the nearest tick.
			for i := range want {
				if tr := res.tracks[0].Track(want[i].track); tr != nil && tr.CodecDelay != 0 {
					want[i].pts += int64((tr.CodecDelay + 500_000) / 1_000_000)
				}
			}
			comparePackets(t, res.packets, want)
		})
	}
}

func comparePackets(t *testing.T, got, want []packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, ffprobe shows %d packets", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("frame %d: got %+v, ffprobe %+v", i, got[i], want[i])
		}
	}
}
