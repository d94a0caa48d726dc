package mpegts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/media/mkv"
)

// source is a test file's tracks and frames, read with media/mkv.
type source struct {
	tracks  []Track
	numbers []uint64 // MKV track number of each track
	frames  []frame
}

type frame struct {
	track int
	s     Sample
}

func loadSource(t testing.TB, name string) source {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "mkv", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(bytes.NewReader(b), mkv.ReaderConfig{})
	var src source
	index := map[uint64]int{}
	scale := int64(1_000_000)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		switch ev {
		case mkv.EventInfo:
			scale = int64(r.Info().TimecodeScale)
		case mkv.EventTracks:
			for _, tr := range r.Tracks().Entries {
				var c Codec
				switch tr.CodecID {
				case "V_MPEG4/ISO/AVC":
					c = H264
				case "V_MPEGH/ISO/HEVC":
					c = H265
				case "A_AAC":
					c = AAC
				default:
					continue
				}
				index[tr.Number] = len(src.tracks)
				src.tracks = append(src.tracks, Track{Codec: c, CodecPrivate: tr.CodecPrivate})
				src.numbers = append(src.numbers, tr.Number)
			}
		case mkv.EventCluster:
			c := r.Cluster()
			for i := range c.Frames {
				f := &c.Frames[i]
				ti, ok := index[f.Track]
				if !ok {
					continue
				}
				// One second of offset keeps DTS (below) positive.
				pts := (c.Time(f) + 1000) * scale
				src.frames = append(src.frames, frame{track: ti, s: Sample{PTS: pts, DTS: pts, Keyframe: f.Keyframe || src.tracks[ti].Codec == AAC, Data: slices.Clone(f.Data)}})
			}
		}
	}
	// Matroska has presentation times only; video decoding times are
	// the sorted presentation times, delayed by the reorder depth.
	for ti, tr := range src.tracks {
		if tr.Codec == AAC {
			continue
		}
		var idx []int
		var sorted []int64
		for i, f := range src.frames {
			if f.track == ti {
				idx = append(idx, i)
				sorted = append(sorted, f.s.PTS)
			}
		}
		slices.Sort(sorted)
		var shift int64
		for k, i := range idx {
			shift = max(shift, sorted[k]-src.frames[i].s.PTS)
		}
		for k, i := range idx {
			src.frames[i].s.DTS = sorted[k] - shift
		}
	}
	return src
}

func mux(t *testing.T, src source) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, src.tracks)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range src.frames {
		if err := w.WriteSample(f.track, f.s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWithFFprobe writes whole test files as transport streams and has
// ffprobe read them back: the right codecs, every frame, at its times,
// with its key-frame flag, and no errors.
func TestWithFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	for _, tc := range []struct {
		file   string
		codecs []string
	}{
		{"h264_aac.mkv", []string{"h264", "aac"}},
		{"h265_opus.mkv", []string{"hevc"}},
		{"seed_h264_opus_live.mkv", []string{"h264"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src := loadSource(t, tc.file)
			ts := mux(t, src)
			if len(ts)%188 != 0 || ts[0] != 0x47 {
				t.Fatalf("not a transport stream: %d bytes starting %x", len(ts), ts[0])
			}
			cmd := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name:packet=stream_index,pts,dts,flags", "-of", "csv=p=0", "-")
			cmd.Stdin = bytes.NewReader(ts)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || strings.TrimSpace(stderr.String()) != "" {
				t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
			}
			type pkt struct {
				pts, dts int64
				key      bool
			}
			got := map[int][]pkt{}
			var codecs []string
			seen := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(l, ",")
				switch len(f) {
				case 2:
					// Streams are listed under the program too.
					if !seen[f[0]] {
						seen[f[0]] = true
						codecs = append(codecs, f[1])
					}
				case 4, 5:
					si, _ := strconv.Atoi(f[0])
					pts, _ := strconv.ParseInt(f[1], 10, 64)
					dts, _ := strconv.ParseInt(f[2], 10, 64)
					got[si] = append(got[si], pkt{pts, dts, strings.HasPrefix(f[3], "K")})
				}
			}
			if !slices.Equal(codecs, tc.codecs) {
				t.Fatalf("ffprobe found codecs %v, want %v", codecs, tc.codecs)
			}
			for ti := range src.tracks {
				var want []pkt
				for _, f := range src.frames {
					if f.track == ti {
						want = append(want, pkt{ticks90k(f.s.PTS), ticks90k(f.s.DTS), f.s.Keyframe})
					}
				}
				g := got[ti]
				if len(g) != len(want) {
					t.Errorf("track %d: ffprobe read %d packets, %d went in", ti, len(g), len(want))
					continue
				}
				for i := range want {
					if g[i] != want[i] {
						t.Errorf("track %d packet %d: %+v, want %+v", ti, i, g[i], want[i])
						break
					}
				}
			}
		})
	}
}

// TestSegmentsPlayInSequence: separately written segments, as HLS serves
// them, concatenate into a stream ffprobe reads without complaint.
func TestSegmentsPlayInSequence(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	src := loadSource(t, "h264_aac.mkv")
	var all []byte
	var seg source
	seg.tracks = src.tracks
	flush := func() {
		if len(seg.frames) > 0 {
			all = append(all, mux(t, seg)...)
			seg.frames = seg.frames[:0]
		}
	}
	for _, f := range src.frames {
		if f.track == 0 && f.s.Keyframe {
			flush()
		}
		seg.frames = append(seg.frames, f)
	}
	flush()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=index,nb_read_packets", "-of", "csv=p=0", "-")
	cmd.Stdin = bytes.NewReader(all)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(stderr.String()) != "" {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
	}
	n := 0
	seen := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		idx, v, _ := strings.Cut(l, ",")
		if !seen[idx] { // streams are listed under the program too
			seen[idx] = true
			c, _ := strconv.Atoi(v)
			n += c
		}
	}
	if n != len(src.frames) {
		t.Errorf("ffprobe read %d packets, %d went in", n, len(src.frames))
	}
}

func TestADTSTemplate(t *testing.T) {
	for _, tc := range []struct {
		asc  []byte
		want []byte // first 4 header bytes
		err  bool
	}{
		{asc: []byte{0x11, 0x90}, want: []byte{0xFF, 0xF1, 0x4C, 0x80}},             // AAC-LC 48 kHz stereo
		{asc: []byte{0x12, 0x08}, want: []byte{0xFF, 0xF1, 0x50, 0x40}},             // AAC-LC 44.1 kHz mono
		{asc: []byte{0x2B, 0x92, 0x08, 0x00}, want: []byte{0xFF, 0xF1, 0x5C, 0x80}}, // HE-AAC (SBR) 24 kHz core stereo
		{asc: []byte{0x11}, err: true},
		{asc: []byte{0xF8, 0x00}, err: true},          // escape object type
		{asc: []byte{0x17, 0x80, 0, 0, 0}, err: true}, // explicit sampling frequency
	} {
		h, err := adtsTemplate(tc.asc)
		if tc.err {
			if !errors.Is(err, ErrCodecConfig) {
				t.Errorf("ASC %x: err %v, want ErrCodecConfig", tc.asc, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(h[:4], tc.want) {
			t.Errorf("ASC %x: header %x %v, want %x", tc.asc, h[:4], err, tc.want)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(&bytes.Buffer{}, nil); !errors.Is(err, ErrCodecConfig) {
		t.Errorf("no tracks: %v", err)
	}
	if _, err := NewWriter(&bytes.Buffer{}, []Track{{Codec: H264, CodecPrivate: []byte{1, 2}}}); !errors.Is(err, ErrCodecConfig) {
		t.Errorf("bad avcC: %v", err)
	}
	if _, err := NewWriter(&bytes.Buffer{}, []Track{{Codec: 9}}); !errors.Is(err, ErrCodecConfig) {
		t.Errorf("unknown codec: %v", err)
	}
	src := loadSource(t, "h264_aac.mkv")
	w, err := NewWriter(&bytes.Buffer{}, src.tracks)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		track int
		s     Sample
	}{
		{"track out of range", 5, Sample{Data: []byte{0, 0, 0, 1, 9}}},
		{"DTS after PTS", 0, Sample{PTS: 1, DTS: 2, Data: []byte{0, 0, 0, 1, 9}}},
		{"truncated NAL length", 0, Sample{Data: []byte{0, 0, 0, 9, 1}}},
		{"oversized AAC frame", 1, Sample{Data: make([]byte, 9000)}},
	} {
		if err := w.WriteSample(tc.track, tc.s); !errors.Is(err, ErrInvalidSample) {
			t.Errorf("%s: %v, want ErrInvalidSample", tc.name, err)
		}
	}
}

// FuzzWriteSample: arbitrary sample payloads never panic the writer and
// always produce whole 188-byte packets.
func FuzzWriteSample(f *testing.F) {
	src := loadSource(f, "seed_h264_opus_live.mkv")
	f.Add(src.frames[0].s.Data, true, int64(0))
	f.Add([]byte{0, 0, 0, 2, 0x65, 0x88}, false, int64(1e9))
	f.Fuzz(func(t *testing.T, data []byte, key bool, pts int64) {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, src.tracks)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.WriteSample(0, Sample{PTS: pts, DTS: pts, Keyframe: key, Data: data})
		_ = w.Close()
		if buf.Len()%188 != 0 {
			t.Fatalf("%d bytes written", buf.Len())
		}
	})
}
