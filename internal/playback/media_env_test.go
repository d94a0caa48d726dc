package playback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/memstore"
	"github.com/openkvs/openkvs/media/mkv"
)

// The helpers of the GetMedia, ListFragments and GetMediaForFragmentList
// tests: a real archive in a temp dir, a memstore catalog, the service's
// media operations on a loopback HTTP server, and fragments cut from an
// ffmpeg-made MKV file as PutMedia stores them.

const mediaTestStream = "cam"

// mediaClock is a settable clock for the archive and the service.
type mediaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *mediaClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *mediaClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type mediaEnv struct {
	t     testing.TB
	clock *mediaClock
	arch  *archive.Archive
	store *memstore.Store
	svc   *Service
	srv   *httptest.Server
	arn   string
}

func newMediaEnv(t testing.TB, media MediaConfig) *mediaEnv {
	t.Helper()
	return newMediaEnvRates(t, media, RateConfig{})
}

// newMediaEnvRates is newMediaEnv with rate limits: tests that make more
// calls in one (frozen) second than KVS allows lift them here.
func newMediaEnvRates(t testing.TB, media MediaConfig, rates RateConfig) *mediaEnv {
	t.Helper()
	clk := &mediaClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	arch, err := archive.Open(archive.Config{Dir: t.TempDir(), Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = arch.Close() })
	store := memstore.New()
	e := &mediaEnv{t: t, clock: clk, arch: arch, store: store}
	e.arn = e.createStream(mediaTestStream)
	svc, err := New(Config{Archive: arch, Streams: store, Media: media, Rates: rates, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	for _, op := range svc.mediaOperations() {
		mux.Handle(op.Pattern, op.Handler)
	}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = svc.Close()
		e.srv.Close()
	})
	return e
}

func (e *mediaEnv) createStream(name string) string {
	e.t.Helper()
	arn := awsapi.NewARN("us-west-2", "123456789012", "stream", name, e.clock.Now())
	err := e.store.CreateStream(context.Background(), &catalog.Stream{
		Name: name, ARN: arn, Status: catalog.StatusActive, CreationTime: e.clock.Now(), DataRetentionInHours: 24, Version: "1",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return arn
}

// post sends body (a string as is, else as JSON) to path.
func (e *mediaEnv) post(ctx context.Context, path string, body any) *http.Response {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// wantError checks that resp is the AWS error code with its status.
func wantError(t testing.TB, resp *http.Response, code awsapi.Code) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code.Status() || resp.Header.Get("x-amzn-ErrorType") != string(code) {
		t.Fatalf("status %d, x-amzn-ErrorType %q, body %s; want %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body, code.Status(), code)
	}
	var eb struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Type != string(code) || eb.Message == "" {
		t.Fatalf("error body %s: want __type %s and a message", body, code)
	}
}

// waitSessions waits until stream has n GetMedia sessions.
func (e *mediaEnv) waitSessions(stream string, n int) {
	e.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		got, changed := e.svc.mediaSessions(stream)
		if got == n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			e.t.Fatalf("stream %s has %d GetMedia sessions, want %d", stream, got, n)
		}
	}
}

// sourceFragment is one Cluster of a source file.
type sourceFragment struct {
	timecode uint64
	raw      []byte
	frames   []mkv.Frame
}

// loadSource reads an MKV file into its stream header and Clusters.
func loadSource(t testing.TB, path string) (*archive.Header, []sourceFragment) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := mkv.NewReader(f, mkv.ReaderConfig{})
	var h *archive.Header
	var out []sourceFragment
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev {
		case mkv.EventTracks:
			h = &archive.Header{TimecodeScale: r.Info().TimecodeScale, Tracks: append([]byte(nil), r.Tracks().Raw...)}
		case mkv.EventCluster:
			c := r.Cluster().Clone()
			out = append(out, sourceFragment{timecode: c.Timecode, raw: c.Raw, frames: c.Frames})
		}
	}
	if h == nil || len(out) < 4 {
		t.Fatalf("%s: header %v, %d clusters", path, h, len(out))
	}
	return h, out
}

const liveSourceFile = "../../media/mkv/testdata/h264_aac_live.mkv"

// put stores src as a durable fragment of stream with producer time
// producer, after advancing the clock by a second, and returns it.
func (e *mediaEnv) put(stream string, h *archive.Header, src sourceFragment, producer time.Time, tags []byte) *archive.Fragment {
	e.t.Helper()
	e.clock.Add(time.Second)
	f := &archive.Fragment{
		Number: e.arch.NewNumber(), ProducerTime: producer, Timecode: src.timecode,
		Duration: time.Second, Frames: len(src.frames), Header: h, Tags: tags,
	}
	done, err := e.arch.Put(stream, f, src.raw, true)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
	f.Size = int64(len(src.raw))
	return f
}

// chunk is one GetMedia chunk as a consumer reads it.
type chunk struct {
	tracks *mkv.Tracks
	scale  uint64
	pre    map[string]string // KVS and producer tags before the Cluster
	post   map[string]string // tags after it
	c      *mkv.Cluster
	// end is the stream offset just after the chunk's last element read.
	end int64
}

// chunkReader reads GetMedia chunks with media/mkv's Reader.
type chunkReader struct {
	r       *mkv.Reader
	pending *chunk // read up to its Cluster; its post tags may follow
}

func newChunkReader(r io.Reader) *chunkReader {
	return &chunkReader{r: mkv.NewReader(r, mkv.ReaderConfig{})}
}

func tagMap(tags *mkv.Tags, into map[string]string) {
	for _, t := range tags.Tags {
		for _, st := range t.SimpleTags {
			into[st.Name] = st.String
		}
	}
}

// next returns the next chunk up to and including its Cluster (or an error
// chunk). The tags after a Cluster land in the chunk's post map when the
// following chunk is read, or in finish.
func (cr *chunkReader) next() (*chunk, error) {
	var cur *chunk
	for {
		ev, err := cr.r.Next()
		if err != nil {
			return nil, err
		}
		switch ev {
		case mkv.EventHeader:
			cr.pending = nil
			cur = &chunk{pre: map[string]string{}, post: map[string]string{}}
		case mkv.EventTracks:
			cur.tracks = cr.r.Tracks()
			cur.scale = cr.r.Info().TimecodeScale
		case mkv.EventTags:
			if cr.pending != nil {
				tagMap(cr.r.Tags(), cr.pending.post)
				cr.pending.end = cr.r.Offset()
				continue
			}
			tagMap(cr.r.Tags(), cur.pre)
			if _, ok := cur.pre[mkv.TagErrorID]; ok {
				cur.end = cr.r.Offset()
				return cur, nil
			}
		case mkv.EventCluster:
			cur.c = cr.r.Cluster().Clone()
			cur.end = cr.r.Offset()
			cr.pending = cur
			return cur, nil
		}
	}
}

// finish reads the Tags that follow the last chunk's Cluster.
func (cr *chunkReader) finish() error {
	ev, err := cr.r.Next()
	if err != nil {
		return err
	}
	if ev != mkv.EventTags || cr.pending == nil {
		return errors.New("no Tags after the Cluster")
	}
	tagMap(cr.r.Tags(), cr.pending.post)
	cr.pending.end = cr.r.Offset()
	return nil
}

// checkChunk compares a chunk with the fragment it should carry.
func checkChunk(t testing.TB, got *chunk, want *archive.Fragment, src sourceFragment) {
	t.Helper()
	if got.c == nil {
		t.Fatalf("chunk without Cluster, tags %v", got.pre)
	}
	if fn := got.pre[mkv.TagFragmentNumber]; fn != want.Number.String() {
		t.Fatalf("fragment number tag %q, want %s", fn, want.Number)
	}
	if v := got.pre[mkv.TagServerTimestamp]; v != mkv.FormatTimestamp(want.ServerTime()) {
		t.Fatalf("server timestamp tag %q, want %s", v, mkv.FormatTimestamp(want.ServerTime()))
	}
	if v := got.pre[mkv.TagProducerTimestamp]; v != mkv.FormatTimestamp(want.ProducerTime) {
		t.Fatalf("producer timestamp tag %q, want %s", v, mkv.FormatTimestamp(want.ProducerTime))
	}
	if got.tracks == nil || !bytes.Equal(got.tracks.Raw, want.Header.Tracks) || got.scale != want.Header.TimecodeScale {
		t.Fatalf("chunk header: tracks equal %v, scale %d", got.tracks != nil && bytes.Equal(got.tracks.Raw, want.Header.Tracks), got.scale)
	}
	if got.c.Timecode != src.timecode || len(got.c.Frames) != len(src.frames) {
		t.Fatalf("cluster timecode %d with %d frames, want %d with %d", got.c.Timecode, len(got.c.Frames), src.timecode, len(src.frames))
	}
	for i, f := range got.c.Frames {
		w := src.frames[i]
		if f.Track != w.Track || f.Timecode != w.Timecode || f.Keyframe != w.Keyframe || !bytes.Equal(f.Data, w.Data) {
			t.Fatalf("frame %d differs: track %d tc %d key %v %d bytes, want track %d tc %d key %v %d bytes",
				i, f.Track, f.Timecode, f.Keyframe, len(f.Data), w.Track, w.Timecode, w.Keyframe, len(w.Data))
		}
	}
}

func mediaPtr[T any](v T) *T { return &v }
