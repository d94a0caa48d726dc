package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/boltstore"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/media/mkv"
)

const (
	testAKID   = "AKIAINGESTTEST000001"
	testSecret = "ingest/test/secret+key/0123456789abcdef"
	testRegion = "us-west-2"
	testWait   = 15 * time.Second
)

// harness is a real PutMedia endpoint on loopback: an ingest.Service on a
// real archive and bbolt catalog, behind the real SigV4 verifier.
type harness struct {
	t     testing.TB
	dir   string
	arch  *archive.Archive
	store catalog.Store
	svc   *ingest.Service
	srv   *httptest.Server
	url   string
}

func newHarness(t testing.TB, cfg ingest.Config) *harness {
	t.Helper()
	return newHarnessWith(t, cfg, harnessOptions{})
}

// harnessOptions adjust a harness' parts.
type harnessOptions struct {
	// archive, when set, edits the archive's Config before it is opened.
	archive func(*archive.Config)
	// listener, when set, wraps the HTTP server's listener.
	listener func(net.Listener) net.Listener
}

func newHarnessWith(t testing.TB, cfg ingest.Config, o harnessOptions) *harness {
	t.Helper()
	dir := t.TempDir()
	acfg := archive.Config{Dir: dir, SweepInterval: -1}
	if o.archive != nil {
		o.archive(&acfg)
	}
	arch, err := archive.Open(acfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(boltstore.Config{Path: filepath.Join(dir, "catalog.db")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Archive, cfg.Streams = arch, store
	if os.Getenv("OPENKVS_TEST_LOG") != "" {
		cfg.Logger = testLogger()
	}
	svc, err := ingest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := awsapi.NewVerifier(awsapi.VerifierConfig{Credentials: map[string]string{testAKID: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, op := range svc.Operations() {
		mux.Handle(op.Pattern, v.Middleware(op.Handler))
	}
	srv := httptest.NewUnstartedServer(mux)
	if o.listener != nil {
		srv.Listener = o.listener(srv.Listener)
	}
	srv.Start()
	h := &harness{t: t, dir: dir, arch: arch, store: store, svc: svc, srv: srv, url: srv.URL}
	t.Cleanup(func() {
		_ = svc.Close()
		srv.Close()
		_ = arch.Close()
		_ = store.Close()
	})
	return h
}

// createStream adds an ACTIVE stream to the catalog.
func (h *harness) createStream(name string, retentionHours int) *catalog.Stream {
	h.t.Helper()
	st := &catalog.Stream{
		Name: name, ARN: awsapi.NewARN(testRegion, "123456789012", "stream", name, time.Now()),
		Status: catalog.StatusActive, Version: "1", CreationTime: time.Now(),
		DataRetentionInHours: retentionHours, MediaType: "video/h264",
	}
	if err := h.store.CreateStream(context.Background(), st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// deleteStream does what the server does when DeleteStream is called.
func (h *harness) deleteStream(name string) {
	h.t.Helper()
	if err := h.store.DeleteStream(context.Background(), name); err != nil {
		h.t.Fatal(err)
	}
	h.svc.CloseStream(name)
	if err := h.arch.DeleteStream(name); err != nil {
		h.t.Fatal(err)
	}
}

// ack is one decoded acknowledgement; pointer fields are absent keys.
type ack struct {
	EventType        string
	FragmentTimecode *uint64
	FragmentNumber   *string
	ErrorId          *int //nolint:revive // KVS' key name
	ErrorCode        *string
	raw              string
}

func (a ack) tc() uint64 {
	if a.FragmentTimecode == nil {
		return 0
	}
	return *a.FragmentTimecode
}

func (a ack) number() string {
	if a.FragmentNumber == nil {
		return ""
	}
	return *a.FragmentNumber
}

func (a ack) errID() int {
	if a.ErrorId == nil {
		return 0
	}
	return *a.ErrorId
}

// session is one PutMedia request in flight.
type session struct {
	t      testing.TB
	resp   *http.Response
	body   *io.PipeWriter
	acks   chan ack
	done   chan struct{} // the ack stream ended
	status int
	errMsg []byte
}

// putOptions are the PutMedia request headers.
type putOptions struct {
	name, arn    string
	relative     bool
	start        string // x-amzn-producer-start-timestamp
	noAcks       bool
	extraHeaders map[string]string
	signTime     time.Time
	key          [2]string // access key ID and secret; the harness' by default
	// body, when set, is the whole request body, sent while waiting for
	// the response (net/http answers a refused streaming request only
	// once it has read its body or 256 KiB of it).
	body []byte
}

// startPutMedia opens a PutMedia request on baseURL signed with the real
// aws-sdk-go-v2 SigV4 signer (payload hash of the empty string, as the KVS
// producers sign it). Body bytes are sent with write.
func startPutMedia(t testing.TB, client *http.Client, baseURL string, o putOptions) *session {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/putMedia", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Connection", "keep-alive")
	req.Header.Set("User-Agent", "openkvs-ingest-test/1.0")
	if o.name != "" {
		req.Header.Set("x-amzn-stream-name", o.name)
	}
	if o.arn != "" {
		req.Header.Set("x-amzn-stream-arn", o.arn)
	}
	tt := "ABSOLUTE"
	if o.relative {
		tt = "RELATIVE"
	}
	req.Header.Set("x-amzn-fragment-timecode-type", tt)
	if o.start != "" {
		req.Header.Set("x-amzn-producer-start-timestamp", o.start)
	}
	if o.noAcks {
		req.Header.Set("x-amzn-fragment-acknowledgment-required", "0")
	} else {
		req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	}
	for k, v := range o.extraHeaders {
		req.Header.Set(k, v)
	}
	at := o.signTime
	if at.IsZero() {
		at = time.Now()
	}
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if o.key != [2]string{} {
		creds = aws.Credentials{AccessKeyID: o.key[0], SecretAccessKey: o.key[1]}
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds,
		req, awsapi.EmptyPayloadHash, "kinesisvideo", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		client = http.DefaultClient
	}
	if o.body != nil {
		go func() {
			_, _ = pw.Write(o.body)
			pw.Close()
		}()
	}
	resp, err := client.Do(req)
	if err != nil {
		pw.Close()
		t.Fatalf("PutMedia: %v", err)
	}
	s := &session{t: t, resp: resp, body: pw, acks: make(chan ack, 1024), done: make(chan struct{}), status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		s.errMsg, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		pw.Close()
		close(s.acks)
		close(s.done)
		return s
	}
	go s.readAcks()
	t.Cleanup(func() {
		pw.CloseWithError(io.ErrClosedPipe)
		resp.Body.Close()
	})
	return s
}

func (s *session) readAcks() {
	defer close(s.done)
	defer close(s.acks)
	sc := bufio.NewScanner(s.resp.Body)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var a ack
		if err := dec.Decode(&a); err != nil {
			a = ack{EventType: "UNPARSABLE"}
		}
		a.raw = string(line)
		s.acks <- a
	}
}

// write sends body bytes; it reports whether the server still reads.
func (s *session) write(b []byte) error {
	_, err := s.body.Write(b)
	return err
}

// close ends the request body.
func (s *session) close() { s.body.Close() }

// next returns the next ack, skipping IDLE keep-alives; ok is false when
// the ack stream ended.
func (s *session) next() (ack, bool) {
	s.t.Helper()
	for {
		select {
		case a, ok := <-s.acks:
			if !ok {
				return ack{}, false
			}
			if a.EventType == "IDLE" {
				continue
			}
			return a, true
		case <-time.After(testWait):
			s.t.Fatalf("no ack within %v", testWait)
			return ack{}, false
		}
	}
}

// rest returns every ack until the stream ends (IDLE skipped).
func (s *session) rest() []ack {
	s.t.Helper()
	var out []ack
	for {
		a, ok := s.next()
		if !ok {
			return out
		}
		out = append(out, a)
	}
}

// waitEnd waits until the server ended the response.
func (s *session) waitEnd() {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(testWait):
		s.t.Fatalf("PutMedia response did not end within %v", testWait)
	}
}

// sourceCluster is one Cluster of a test MKV file.
type sourceCluster struct {
	timecode uint64
	raw      []byte
	frames   []mkv.Frame
}

// sourceFile is a parsed test MKV.
type sourceFile struct {
	data     []byte
	scale    uint64
	tracks   *mkv.Tracks
	clusters []sourceCluster
}

func readSource(t testing.TB, data []byte) *sourceFile {
	t.Helper()
	rd := mkv.NewReader(bytes.NewReader(data), mkv.ReaderConfig{})
	sf := &sourceFile{data: data}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return sf
		}
		if err != nil {
			t.Fatalf("source MKV: %v", err)
		}
		switch ev {
		case mkv.EventTracks:
			sf.tracks = rd.Tracks()
			sf.scale = rd.Info().TimecodeScale
		case mkv.EventCluster:
			c := rd.Cluster().Clone()
			sf.clusters = append(sf.clusters, sourceCluster{timecode: c.Timecode, raw: c.Raw, frames: c.Frames})
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedFragments follows a stream in arch from the start and returns
// every fragment there is now.
func storedFragments(t testing.TB, arch *archive.Archive, stream string) []*archive.Fragment {
	t.Helper()
	var out []*archive.Fragment
	var n archive.Number
	for {
		f, _, err := arch.Next(stream, n)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return out
		}
		out = append(out, f)
		n = f.Number
	}
}

// decodeStored parses a stored fragment with media/mkv, as a reader of
// the archive would: a document of its Tracks and Cluster.
func decodeStored(t testing.TB, arch *archive.Archive, stream string, f *archive.Fragment) (*mkv.Cluster, *mkv.Tracks) {
	t.Helper()
	raw, err := arch.ReadCluster(stream, f)
	if err != nil {
		t.Fatalf("read fragment %s: %v", f.Number, err)
	}
	var doc bytes.Buffer
	w, err := mkv.NewWriter(&doc, mkv.WriterConfig{TimecodeScale: f.Header.TimecodeScale})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeaderRaw(f.Header.Tracks); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRaw(raw); err != nil {
		t.Fatal(err)
	}
	rd := mkv.NewReader(&doc, mkv.ReaderConfig{})
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("stored fragment %s does not parse: %v", f.Number, err)
		}
		if ev == mkv.EventCluster {
			return rd.Cluster().Clone(), rd.Tracks()
		}
	}
}

// checkFrames asserts that got holds exactly the frames of want.
func checkFrames(t testing.TB, what string, got *mkv.Cluster, want sourceCluster) {
	t.Helper()
	if got.Timecode != want.timecode {
		t.Errorf("%s: timecode %d, want %d", what, got.Timecode, want.timecode)
	}
	if len(got.Frames) != len(want.frames) {
		t.Fatalf("%s: %d frames, want %d", what, len(got.Frames), len(want.frames))
	}
	for i, f := range got.Frames {
		w := want.frames[i]
		if f.Track != w.Track || f.Timecode != w.Timecode || f.Keyframe != w.Keyframe || !bytes.Equal(f.Data, w.Data) {
			t.Fatalf("%s: frame %d differs: track %d/%d tc %d/%d key %v/%v len %d/%d", what, i,
				f.Track, w.Track, f.Timecode, w.Timecode, f.Keyframe, w.Keyframe, len(f.Data), len(w.Data))
		}
	}
}

// synth writes a synthetic MKV stream with mkv.Writer.
type synth struct {
	buf bytes.Buffer
	w   *mkv.Writer
}

func newSynth(t testing.TB, ntracks int) *synth {
	t.Helper()
	s := &synth{}
	w, err := mkv.NewWriter(&s.buf, mkv.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s.w = w
	var tracks []mkv.Track
	for i := 1; i <= ntracks; i++ {
		tracks = append(tracks, mkv.Track{Number: uint64(i), UID: uint64(100 + i), Type: mkv.TrackTypeVideo,
			CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}})
	}
	if err := w.WriteHeader(tracks); err != nil {
		t.Fatal(err)
	}
	return s
}

// cluster appends a Cluster at tc (ms) with n frames of size bytes on
// track 1, 40 ms apart, the first a key frame.
func (s *synth) cluster(t testing.TB, tc uint64, n, size int) {
	t.Helper()
	var frames []mkv.Frame
	for i := range n {
		data := bytes.Repeat([]byte{byte(tc + uint64(i))}, size)
		frames = append(frames, mkv.Frame{Track: 1, Timecode: int16(i * 40), Keyframe: i == 0, Data: data})
	}
	if err := s.w.WriteCluster(tc, frames); err != nil {
		t.Fatal(err)
	}
}

// take returns the bytes written so far and resets the buffer.
func (s *synth) take() []byte {
	b := bytes.Clone(s.buf.Bytes())
	s.buf.Reset()
	return b
}

func expectEvents(t testing.TB, got []ack, want ...string) {
	t.Helper()
	var names []string
	for _, a := range got {
		names = append(names, a.EventType)
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("acks %v, want %v\n%s", names, want, rawAcks(got))
	}
}

func rawAcks(acks []ack) string {
	var b bytes.Buffer
	for _, a := range acks {
		b.WriteString(a.raw + "\n")
	}
	return b.String()
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
