package fmp4

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// source is a file of testdata demuxed into tracks and samples in the
// timescales this package uses (90 kHz video, sample rate audio).
type source struct {
	tracks  []Track
	samples [][]Sample // per track, decode order
}

func loadSource(t testing.TB, name string) source {
	t.Helper()
	dts, err := demuxProgressive(readTestdata(t, name))
	if err != nil {
		t.Fatalf("demux %s: %v", name, err)
	}
	var src source
	for i, d := range dts {
		tr, err := NewTrack(uint32(i+1), d.codec, d.config)
		if err != nil {
			t.Fatalf("%s track %d: %v", name, i, err)
		}
		src.tracks = append(src.tracks, tr)
		scale := func(v uint64) uint64 { return v * uint64(tr.Timescale) / uint64(d.timescale) }
		ss := make([]Sample, len(d.samples))
		for k, s := range d.samples {
			ss[k] = Sample{
				DecodeTime:         scale(s.dts),
				PresentationOffset: int32(int64(s.cto) * int64(tr.Timescale) / int64(d.timescale)),
				Duration:           uint32(scale(uint64(s.duration))),
				Keyframe:           s.key,
				Data:               s.data,
			}
		}
		src.samples = append(src.samples, ss)
	}
	return src
}

// fragments cuts the source into fragments at the first track's key
// frames, the way HLS/DASH segments are cut, and returns the
// TrackFragments of each (only the given tracks).
func (s source) fragments(tracks ...int) [][]TrackFragment {
	video := s.samples[0]
	var cuts []float64 // fragment start times in seconds
	for _, v := range video {
		if v.Keyframe {
			cuts = append(cuts, float64(v.DecodeTime)/float64(s.tracks[0].Timescale))
		}
	}
	cuts = append(cuts, math.Inf(1))
	out := make([][]TrackFragment, len(cuts)-1)
	for _, ti := range tracks {
		k := 0
		for f := range out {
			tf := TrackFragment{TrackID: s.tracks[ti].ID}
			for k < len(s.samples[ti]) && float64(s.samples[ti][k].DecodeTime)/float64(s.tracks[ti].Timescale) < cuts[f+1] {
				tf.Samples = append(tf.Samples, s.samples[ti][k])
				k++
			}
			out[f] = append(out[f], tf)
		}
	}
	return out
}

type probeResult struct {
	Streams []struct {
		Index        int    `json:"index"`
		CodecName    string `json:"codec_name"`
		CodecTag     string `json:"codec_tag_string"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		SampleRate   string `json:"sample_rate"`
		Channels     int    `json:"channels"`
		NbReadFrames string `json:"nb_read_frames"`
		TimeBase     string `json:"time_base"`
		StartTime    string `json:"start_time"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTS         int64  `json:"pts"`
		DTS         int64  `json:"dts"`
		Duration    *int64 `json:"duration"`
		Size        string `json:"size"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// probe runs ffprobe on data and checks that ffmpeg decodes it without an
// error message.
func probe(t *testing.T, name string, data []byte) probeResult {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_packets", "-count_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", name, err)
	}
	var res probeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	dec, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(dec) > 0 {
		t.Errorf("ffmpeg decoding %s: %v\n%s", name, err, dec)
	}
	return res
}

// checkProbe compares what ffprobe saw with the samples that were written:
// codec, frame count, and each packet's size, duration and decode time.
func checkProbe(t *testing.T, res probeResult, fragmented bool, tracks []Track, samples [][]Sample) {
	t.Helper()
	if len(res.Streams) != len(tracks) {
		t.Fatalf("%d streams, want %d", len(res.Streams), len(tracks))
	}
	names := map[Codec]string{H264: "h264", H265: "hevc", AAC: "aac", Opus: "opus"}
	for i, st := range res.Streams {
		tr := tracks[i]
		if st.CodecName != names[tr.Codec] {
			t.Errorf("stream %d codec %q, want %q", i, st.CodecName, names[tr.Codec])
		}
		if st.TimeBase != "1/"+strconv.Itoa(int(tr.Timescale)) {
			t.Errorf("stream %d time base %s, want 1/%d", i, st.TimeBase, tr.Timescale)
		}
		if tr.Codec.IsVideo() && (st.Width != tr.Width || st.Height != tr.Height) {
			t.Errorf("stream %d size %dx%d, want %dx%d", i, st.Width, st.Height, tr.Width, tr.Height)
		}
		if !tr.Codec.IsVideo() && (st.SampleRate != strconv.Itoa(int(tr.SampleRate)) || st.Channels != int(tr.Channels)) {
			t.Errorf("stream %d %s Hz %d channels, want %d %d", i, st.SampleRate, st.Channels, tr.SampleRate, tr.Channels)
		}
		if n, _ := strconv.Atoi(st.NbReadFrames); n != len(samples[i]) {
			t.Errorf("stream %d decoded %s frames, want %d", i, st.NbReadFrames, len(samples[i]))
		}
	}
	next := make([]int, len(tracks))
	firstDTS := make([]int64, len(tracks))
	// ffmpeg shifts decode times or presentation times of a stream
	// with negative composition offsets by a constant; only the
	// differences must match.
	ctsShift := make([]int64, len(tracks))
	for _, p := range res.Packets {
		i := p.StreamIndex
		k := next[i]
		if k >= len(samples[i]) {
			t.Fatalf("stream %d: more packets than samples", i)
		}
		s := samples[i][k]
		if k == 0 {
			firstDTS[i] = p.DTS - int64(s.DecodeTime-samples[i][0].DecodeTime)
			ctsShift[i] = p.PTS - p.DTS - int64(s.PresentationOffset)
		}
		// For fragmented audio ffprobe reports the durations its
		// parser computes (or none), not the container's, for
		// ffmpeg's own files too; those are checked by demuxing.
		dur := int64(s.Duration)
		if p.Duration != nil && !(fragmented && !tracks[i].Codec.IsVideo()) {
			dur = *p.Duration
		}
		if p.Size != strconv.Itoa(len(s.Data)) || dur != int64(s.Duration) ||
			p.DTS-firstDTS[i] != int64(s.DecodeTime-samples[i][0].DecodeTime) ||
			p.PTS-p.DTS-ctsShift[i] != int64(s.PresentationOffset) || (p.Flags[0] == 'K') != s.Keyframe {
			t.Errorf("stream %d packet %d: size %s dur %d dts %d pts %d flags %s; want %d %d %d cto %d key %v",
				i, k, p.Size, dur, p.DTS, p.PTS, p.Flags, len(s.Data), s.Duration, s.DecodeTime, s.PresentationOffset, s.Keyframe)
			return
		}
		next[i]++
	}
	for i := range next {
		nonNegative := true
		for _, s := range samples[i] {
			nonNegative = nonNegative && s.PresentationOffset >= 0
		}
		if nonNegative && ctsShift[i] != 0 {
			t.Errorf("stream %d: presentation times shifted by %d", i, ctsShift[i])
		}
		if next[i] != len(samples[i]) {
			t.Errorf("stream %d: %d packets, want %d", i, next[i], len(samples[i]))
		}
	}
}

var sources = []struct {
	file   string
	codecs []Codec
	strs   []string
}{
	{"avc_aac.mp4", []Codec{H264, AAC}, []string{"avc1.64000b", "mp4a.40.2"}},
	{"hevc_opus.mp4", []Codec{H265, Opus}, []string{"hvc1.1.6.L30.90", "opus"}},
}

func TestTracksFromFFmpeg(t *testing.T) {
	for _, sc := range sources {
		src := loadSource(t, sc.file)
		for i, tr := range src.tracks {
			if tr.Codec != sc.codecs[i] || tr.CodecString() != sc.strs[i] {
				t.Errorf("%s track %d: %v %q, want %v %q", sc.file, i, tr.Codec, tr.CodecString(), sc.codecs[i], sc.strs[i])
			}
		}
		v, a := src.tracks[0], src.tracks[1]
		if v.Width != 160 || v.Height != 90 || v.Timescale != 90000 {
			t.Errorf("%s video %dx%d @%d", sc.file, v.Width, v.Height, v.Timescale)
		}
		wantRate := uint32(44100)
		if a.Codec == Opus {
			wantRate = 48000
		}
		if a.SampleRate != wantRate || a.Timescale != wantRate || a.Channels != 2 {
			t.Errorf("%s audio %d Hz %d ch @%d", sc.file, a.SampleRate, a.Channels, a.Timescale)
		}
	}
}

// TestFragmentedWithFFprobe writes a multiplexed fragmented file (init +
// fragments) and one file per track (as HLS/DASH renditions are), then has
// ffprobe and ffmpeg check them.
func TestFragmentedWithFFprobe(t *testing.T) {
	needFFmpeg(t)
	for _, sc := range sources {
		src := loadSource(t, sc.file)
		layouts := []struct {
			name   string
			tracks []int
		}{{"muxed", []int{0, 1}}, {"video", []int{0}}, {"audio", []int{1}}}
		for _, l := range layouts {
			t.Run(sc.file+"/"+l.name, func(t *testing.T) {
				var tracks []Track
				var samples [][]Sample
				for _, ti := range l.tracks {
					tracks = append(tracks, src.tracks[ti])
					samples = append(samples, src.samples[ti])
				}
				var buf bytes.Buffer
				if err := WriteInit(&buf, tracks); err != nil {
					t.Fatal(err)
				}
				var fw FragmentWriter
				frags := src.fragments(l.tracks...)
				if len(frags) < 2 {
					t.Fatalf("only %d fragments", len(frags))
				}
				for i, f := range frags {
					n, err := fw.WriteFragment(&buf, uint32(i+1), f...)
					if err != nil {
						t.Fatal(err)
					}
					if n <= 0 {
						t.Fatalf("fragment %d: wrote %d bytes", i, n)
					}
				}
				file := buf.Bytes()
				checkProbe(t, probe(t, "frag.mp4", file), true, tracks, samples)

				// Our own reader sees the same samples.
				got, err := demuxFragmented(file)
				if err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if len(got[i].samples) != len(samples[i]) {
						t.Fatalf("track %d: %d samples back, want %d", i, len(got[i].samples), len(samples[i]))
					}
					for k, s := range got[i].samples {
						w := samples[i][k]
						if s.dts != w.DecodeTime || s.duration != w.Duration || s.cto != w.PresentationOffset || s.key != w.Keyframe || !bytes.Equal(s.data, w.Data) {
							t.Fatalf("track %d sample %d differs", i, k)
						}
					}
				}
			})
		}
	}
}

// TestClipWithFFprobe writes progressive files from interleaved samples and
// has ffprobe and ffmpeg check them.
func TestClipWithFFprobe(t *testing.T) {
	needFFmpeg(t)
	for _, sc := range sources {
		t.Run(sc.file, func(t *testing.T) {
			src := loadSource(t, sc.file)
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
			if int64(buf.Len()) != cw.Size() {
				t.Errorf("wrote %d bytes, Size() = %d", buf.Len(), cw.Size())
			}
			file := buf.Bytes()
			top, err := readBoxes(file)
			if err != nil || len(top) != 3 || top[0].typ != "ftyp" || top[1].typ != "moov" || top[2].typ != "mdat" {
				t.Fatalf("top-level boxes %v, %v", top, err)
			}
			res := probe(t, "clip.mp4", file)
			// A clip's decode times start at 0 in every track.
			var want [][]Sample
			for ti, ss := range src.samples {
				w := make([]Sample, len(ss))
				base := ss[0].DecodeTime
				for k, s := range ss {
					s.DecodeTime -= base
					w[k] = s
				}
				_ = ti
				want = append(want, w)
			}
			checkProbe(t, res, false, src.tracks, want)

			got, err := demuxProgressive(file)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i].entry != map[Codec]string{H264: "avc1", H265: "hvc1", AAC: "mp4a", Opus: "Opus"}[src.tracks[i].Codec] {
					t.Errorf("track %d sample entry %q", i, got[i].entry)
				}
				if !bytes.Equal(got[i].config, src.tracks[i].CodecPrivate) {
					t.Errorf("track %d codec config differs", i)
				}
				for k, s := range got[i].samples {
					if !bytes.Equal(s.data, src.samples[i][k].Data) || s.key != src.samples[i][k].Keyframe {
						t.Fatalf("track %d sample %d differs", i, k)
					}
				}
			}
		})
	}
}

// interleave merges the source tracks' samples in decode-time order.
func interleave(src source) ([]ClipSample, [][]byte) {
	var clip []ClipSample
	var data [][]byte
	next := make([]int, len(src.samples))
	for {
		best := -1
		var bestT float64
		for ti, ss := range src.samples {
			if next[ti] < len(ss) {
				tm := float64(ss[next[ti]].DecodeTime) / float64(src.tracks[ti].Timescale)
				if best < 0 || tm < bestT {
					best, bestT = ti, tm
				}
			}
		}
		if best < 0 {
			return clip, data
		}
		s := src.samples[best][next[best]]
		next[best]++
		clip = append(clip, ClipSample{
			Track: best, DecodeTime: s.DecodeTime, PresentationOffset: s.PresentationOffset,
			Duration: s.Duration, Size: uint32(len(s.Data)), Keyframe: s.Keyframe,
		})
		data = append(data, s.Data)
	}
}
