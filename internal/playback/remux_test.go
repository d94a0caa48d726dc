package playback

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/memstore"
	"github.com/openkvs/openkvs/media/mkv"
)

// Test media: internal/ingest/testdata holds two ffmpeg-made files of four
// one-second clusters, each starting with a key frame (see its README).
var (
	h264AAC  = filepath.Join("..", "ingest", "testdata", "h264_aac.mkv")
	h265Opus = filepath.Join("..", "ingest", "testdata", "h265_opus.mkv")
)

// srcFrame is a frame as it went into the archive.
type srcFrame struct {
	track uint64
	pts   int64 // ns since the epoch
	size  int
	sum   uint32 // framecrcSum
	key   bool
}

// srcCluster is one Cluster of a test file.
type srcCluster struct {
	timecode uint64
	raw      []byte
	frames   []srcFrame // pts relative to the file start
}

// testFile is a test MKV file cut into its Clusters.
type testFile struct {
	header   *archive.Header
	clusters []srcCluster
}

func loadFile(t testing.TB, path string) *testFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(bytes.NewReader(b), mkv.ReaderConfig{})
	tf := &testFile{}
	scale := uint64(1_000_000)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		switch ev {
		case mkv.EventInfo:
			scale = r.Info().TimecodeScale
		case mkv.EventTracks:
			tf.header = &archive.Header{TimecodeScale: scale, Tracks: append([]byte(nil), r.Tracks().Raw...)}
		case mkv.EventCluster:
			c := r.Cluster().Clone()
			sc := srcCluster{timecode: c.Timecode, raw: c.Raw}
			for _, f := range c.Frames {
				sc.frames = append(sc.frames, srcFrame{
					track: f.Track, pts: c.Time(&f) * int64(scale), size: len(f.Data),
					sum: framecrcSum(f.Data), key: f.Keyframe,
				})
			}
			tf.clusters = append(tf.clusters, sc)
		}
	}
	if tf.header == nil || len(tf.clusters) == 0 {
		t.Fatalf("%s: no tracks or clusters", path)
	}
	return tf
}

// fragment returns cluster i as an archive fragment whose producer time
// puts the file start at base.
func (tf *testFile) fragment(a *archive.Archive, i int, base time.Time) *archive.Fragment {
	c := &tf.clusters[i]
	scale := time.Duration(tf.header.TimecodeScale)
	var dur time.Duration
	if i+1 < len(tf.clusters) {
		dur = time.Duration(tf.clusters[i+1].timecode-c.timecode) * scale
	} else {
		dur = time.Duration(c.frames[len(c.frames)-1].pts-int64(c.timecode)*int64(scale)) + 40*time.Millisecond
	}
	return &archive.Fragment{
		Number:       a.NewNumber(),
		ProducerTime: base.Add(time.Duration(c.timecode) * scale),
		Timecode:     c.timecode,
		Duration:     dur,
		Frames:       len(c.frames),
		Header:       tf.header,
	}
}

// only returns the frames of track n.
func only(fs []srcFrame, n uint64) []srcFrame {
	var out []srcFrame
	for _, f := range fs {
		if f.track == n {
			out = append(out, f)
		}
	}
	return out
}

// frames returns the frames of clusters [from, to) with absolute times.
func (tf *testFile) frames(base time.Time, from, to int) []srcFrame {
	var out []srcFrame
	for _, c := range tf.clusters[from:to] {
		for _, f := range c.frames {
			f.pts += base.UnixNano()
			out = append(out, f)
		}
	}
	return out
}

// framecrcSum is Adler-32 started from 0, as ffmpeg's framecrc muxer
// computes it (Go's hash/adler32 starts from 1).
func framecrcSum(b []byte) uint32 {
	const mod = 65521
	var a, s uint32
	for len(b) > 0 {
		n := min(len(b), 5552)
		for _, c := range b[:n] {
			a += uint32(c)
			s += a
		}
		a %= mod
		s %= mod
		b = b[n:]
	}
	return s<<16 | a
}

// env is a playback Service over a temporary archive, served over HTTP
// without SigV4 (the handlers do not depend on it).
type env struct {
	t       testing.TB
	arch    *archive.Archive
	store   *memstore.Store
	svc     *Service
	srv     *httptest.Server
	mu      sync.Mutex
	now     time.Time
	realNow bool
	// onRequest, when set, is called before each request is served.
	onRequest func(r *http.Request)
}

func newEnv(t testing.TB, realClock bool) *env {
	t.Helper()
	return newEnvSessions(t, realClock, SessionConfig{})
}

// newEnvSessions is newEnv with session settings (the key is set here).
func newEnvSessions(t testing.TB, realClock bool, sc SessionConfig) *env {
	t.Helper()
	sc.Key = []byte("test key 0123456789abcdef")
	e := &env{t: t, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), realNow: realClock}
	a, err := archive.Open(archive.Config{Dir: t.TempDir(), Now: e.clock, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e.arch = a
	e.store = memstore.New()
	svc, err := New(Config{Archive: a, Streams: e.store, Now: e.clock, Sessions: sc})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	for _, op := range svc.Operations() {
		mux.Handle(op.Pattern, op.Handler)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := e.onRequest; f != nil {
			f(r)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) clock() time.Time {
	if e.realNow {
		return time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *env) createStream(name string, retentionHours int) *catalog.Stream {
	st := &catalog.Stream{
		Name: name, ARN: "arn:aws:kinesisvideo:us-west-2:123456789012:stream/" + name + "/1700000000000",
		Status: catalog.StatusActive, Version: "1", CreationTime: e.clock(), DataRetentionInHours: retentionHours,
	}
	if err := e.store.CreateStream(context.Background(), st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// put stores cluster i of tf durably and waits for it to be persisted.
func (e *env) put(stream string, tf *testFile, i int, base time.Time) *archive.Fragment {
	e.t.Helper()
	f, err := e.tryPut(stream, tf, i, base)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// tryPut is put for goroutines other than the test's.
func (e *env) tryPut(stream string, tf *testFile, i int, base time.Time) (*archive.Fragment, error) {
	f := tf.fragment(e.arch, i, base)
	done, err := e.arch.Put(stream, f, tf.clusters[i].raw, true)
	if err != nil {
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	if !e.realNow {
		// Fragments a producer sends arrive a second apart.
		e.advance(time.Second)
	}
	return f, nil
}

// putAll stores every cluster of tf.
func (e *env) putAll(stream string, tf *testFile, base time.Time) []*archive.Fragment {
	var fs []*archive.Fragment
	for i := range tf.clusters {
		fs = append(fs, e.put(stream, tf, i, base))
	}
	return fs
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
}

// outFrame is a packet as ffmpeg's framecrc muxer reports it.
type outFrame struct {
	stream int
	pts    int64 // in the stream's time base
	tb     [2]int64
	size   int
	sum    uint32
}

// parseFramecrc parses framecrc output (timestamps in each stream's time
// base, given by "#tb" lines).
func parseFramecrc(t testing.TB, out []byte) []outFrame {
	t.Helper()
	tbs := map[int][2]int64{}
	var frames []outFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#tb ") {
			var idx int
			var num, den int64
			if _, err := fmt.Sscanf(line, "#tb %d: %d/%d", &idx, &num, &den); err == nil {
				tbs[idx] = [2]int64{num, den}
			}
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Split(line, ",")
		if len(parts) < 6 {
			continue
		}
		idx, _ := strconv.Atoi(strings.TrimSpace(parts[0]))
		pts, _ := strconv.ParseInt(strings.TrimSpace(parts[2]), 10, 64)
		size, _ := strconv.Atoi(strings.TrimSpace(parts[4]))
		sum, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(parts[5]), "0x"), 16, 32)
		tb := tbs[idx]
		if tb[1] == 0 {
			t.Fatalf("framecrc: no time base for stream %d", idx)
		}
		frames = append(frames, outFrame{stream: idx, pts: pts, tb: tb, size: size, sum: uint32(sum)})
	}
	return frames
}

// checkFrames compares what ffmpeg read with what went in: the same number
// of frames per track, at the same times (to the millisecond) and, when
// sameBytes, with the same payloads. Stream indexes map to tracks in order
// (video first).
func checkFrames(t *testing.T, in []srcFrame, out []outFrame, sameBytes bool) {
	t.Helper()
	byTrack := map[uint64][]srcFrame{}
	var tracks []uint64
	for _, f := range in {
		if _, ok := byTrack[f.track]; !ok {
			tracks = append(tracks, f.track)
		}
		byTrack[f.track] = append(byTrack[f.track], f)
	}
	sort.Slice(tracks, func(i, j int) bool { return tracks[i] < tracks[j] })
	byStream := map[int][]outFrame{}
	for _, f := range out {
		byStream[f.stream] = append(byStream[f.stream], f)
	}
	if len(byStream) != len(tracks) {
		t.Fatalf("ffmpeg read %d streams, want %d", len(byStream), len(tracks))
	}
	for i, tn := range tracks {
		want, got := byTrack[tn], byStream[i]
		sort.Slice(want, func(a, b int) bool { return want[a].pts < want[b].pts })
		sort.Slice(got, func(a, b int) bool { return got[a].pts < got[b].pts })
		if len(got) != len(want) {
			t.Errorf("track %d: ffmpeg read %d frames, %d went in", tn, len(got), len(want))
			continue
		}
		for j := range want {
			// HLS and MPEG-TS timestamps are 33-bit: compare modulo
			// 2^33 ticks of the output time base.
			tb := got[j].tb
			w := toTimeBase(want[j].pts, tb)
			d := (got[j].pts - w) & (1<<33 - 1)
			if d >= 1<<32 {
				d -= 1 << 33
			}
			if ns := d * 1e9 * tb[0] / tb[1]; ns > int64(time.Millisecond) || ns < -int64(time.Millisecond) {
				t.Errorf("track %d frame %d: pts %d (tb %d/%d) is %v away from %v", tn, j, got[j].pts, tb[0], tb[1], time.Duration(ns), time.Unix(0, want[j].pts).UTC())
				break
			}
			if sameBytes && (got[j].size != want[j].size || got[j].sum != want[j].sum) {
				t.Errorf("track %d frame %d: %d bytes %08x, want %d bytes %08x", tn, j, got[j].size, got[j].sum, want[j].size, want[j].sum)
				break
			}
		}
	}
}

// toTimeBase converts ns to units of time base tb without overflowing.
func toTimeBase(ns int64, tb [2]int64) int64 {
	if ns < 0 {
		return -toTimeBase(-ns, tb)
	}
	u := uint64(ns)
	return int64(u/1e9*uint64(tb[1])/uint64(tb[0]) + u%1e9*uint64(tb[1])/uint64(tb[0])/1e9)
}

// ffmpegFramecrc runs ffmpeg on url with the original timestamps kept and
// returns the framecrc of every packet, failing on any error ffmpeg logs.
func ffmpegFramecrc(t *testing.T, url string, extra ...string) []outFrame {
	t.Helper()
	return ffmpegFramecrcMap(t, url, "0", extra...)
}

// ffmpegFramecrcMap is ffmpegFramecrc of the streams mapSpec selects.
func ffmpegFramecrcMap(t *testing.T, url, mapSpec string, extra ...string) []outFrame {
	t.Helper()
	return ffmpegRun(t, extra, url, []string{"-map", mapSpec})
}

// ffmpegRun is ffmpegFramecrc with input options in and output options out.
func ffmpegRun(t *testing.T, in []string, url string, out []string) []outFrame {
	t.Helper()
	args := append([]string{"-hide_banner", "-v", "error", "-copyts"}, in...)
	args = append(append(append(args, "-i", url), out...), "-c", "copy", "-f", "framecrc", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Errorf("ffmpeg logged errors:\n%s", s)
	}
	return parseFramecrc(t, res)
}

func TestDemuxMatchesReader(t *testing.T) {
	for _, path := range []string{h264AAC, h265Opus} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			e := newEnv(t, false)
			tf := loadFile(t, path)
			base := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
			f := e.put("s", tf, 1, base)
			mh, err := parseHeader(tf.header)
			if err != nil {
				t.Fatal(err)
			}
			d, err := demux(mh, f, tf.clusters[1].raw)
			if err != nil {
				t.Fatal(err)
			}
			want := tf.frames(base, 1, 2)
			if len(d.order) != len(want) {
				t.Fatalf("demux: %d frames, want %d", len(d.order), len(want))
			}
			for i, o := range d.order {
				s := d.tracks[o[0]][o[1]]
				w := want[i]
				if mh.tracks[o[0]].number != w.track || s.pts != w.pts || len(s.data) != w.size || framecrcSum(s.data) != w.sum {
					t.Fatalf("frame %d: track %d pts %d %d bytes, want track %d pts %d %d bytes", i, mh.tracks[o[0]].number, s.pts, len(s.data), w.track, w.pts, w.size)
				}
				if s.dts > s.pts {
					t.Fatalf("frame %d: dts %d after pts %d", i, s.dts, s.pts)
				}
			}
			for ti, ss := range d.tracks {
				for i := 1; i < len(ss); i++ {
					if ss[i].dts <= ss[i-1].dts {
						t.Fatalf("track %d: dts not increasing at %d", ti, i)
					}
				}
			}
		})
	}
}

func TestDeriveDTS(t *testing.T) {
	// I0 P3 B1 B2 P6 B4 B5 in decode order (frame units).
	pts := []int64{0, 3, 1, 2, 6, 4, 5}
	ss := make([]mediaSample, len(pts))
	for i, p := range pts {
		ss[i].pts, ss[i].dts = p, p
	}
	deriveDTS(ss)
	for i := range ss {
		if ss[i].dts > ss[i].pts {
			t.Errorf("sample %d: dts %d > pts %d", i, ss[i].dts, ss[i].pts)
		}
		if i > 0 && ss[i].dts <= ss[i-1].dts {
			t.Errorf("sample %d: dts %d not after %d", i, ss[i].dts, ss[i-1].dts)
		}
	}
	if ss[0].dts != -1 {
		t.Errorf("first dts %d, want -1 (one frame of reorder delay)", ss[0].dts)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	tracks := func(ts ...mkv.Track) *archive.Header {
		return &archive.Header{TimecodeScale: 1_000_000, Tracks: mkv.AppendTracks(nil, ts)}
	}
	for _, tc := range []struct {
		name string
		h    *archive.Header
		code string
	}{
		{"unsupported codec", tracks(mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_VP8"}), "UnsupportedStreamMediaTypeException"},
		{"missing codec private", tracks(mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}), "MissingCodecPrivateDataException"},
		{"bad codec private", tracks(mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: []byte{1, 2, 3}}), "InvalidCodecPrivateDataException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseHeader(tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("parseHeader: %v, want %s", err, tc.code)
			}
		})
	}
}

// FuzzWalkCluster: the in-place Cluster walk never panics, and whenever it
// accepts a Cluster it finds exactly the frames mkv.Reader finds.
func FuzzWalkCluster(f *testing.F) {
	// Small seeds keep minimization quick.
	for _, name := range []string{"seed_h264_opus_live.mkv", "seed_h265.mkv"} {
		tf := loadFile(f, filepath.Join("..", "..", "media", "mkv", "testdata", name))
		for _, c := range tf.clusters[:min(len(tf.clusters), 2)] {
			f.Add(c.raw)
		}
	}
	laced, _ := mkv.AppendCluster(nil, 5, []mkv.Frame{{Track: 1, Keyframe: true, Data: []byte{1, 2, 3}}, {Track: 2, Timecode: -3, Data: []byte{4}}})
	f.Add(laced)
	tracks := mkv.AppendTracks(nil, []mkv.Track{{Number: 1, Type: mkv.TrackTypeVideo, CodecID: "V_TEST"}, {Number: 2, Type: mkv.TrackTypeAudio, CodecID: "A_TEST"}})
	h := &mediaHeader{scale: 1_000_000}
	var doc bytes.Buffer
	w, _ := mkv.NewWriter(&doc, mkv.WriterConfig{})
	_ = w.WriteHeaderRaw(tracks)
	h.doc = doc.Bytes()
	fr := &archive.Fragment{}
	f.Fuzz(func(t *testing.T, cluster []byte) {
		got, ok := walkCluster(cluster, nil)
		if !ok {
			return
		}
		want, err := readCluster(h, fr, cluster)
		if err != nil {
			// Unknown track numbers are the Reader's business (the
			// walk leaves them to demux, which skips them).
			return
		}
		if len(got) != len(want) {
			t.Fatalf("walk found %d frames, Reader %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.track != w.track || g.timecode != w.timecode || g.key != w.key || !bytes.Equal(g.data, w.data) {
				t.Fatalf("frame %d: walk %+v, Reader %+v", i, g, w)
			}
		}
	})
}
