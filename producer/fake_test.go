package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/mkv"
)

const (
	testAKID   = "AKIAPRODUCERTEST0001"
	testSecret = "producer/test/secret"
	testRegion = "us-west-2"
)

// action is what the fake does once it has read a whole fragment.
type action int

const (
	actPersist    action = iota // store it, ack RECEIVED and PERSISTED
	actLose                     // ack RECEIVED, then drop the connection without storing it
	actAbortAfter               // store it, ack PERSISTED, then drop the connection
	actError                    // send an ERROR ack (errID) without storing, end the response
	actStoreLose                // store it, ack RECEIVED, drop the connection before PERSISTED (a crash)
)

// fakeKVS is a test fake of the PutMedia peer: it verifies SigV4 with
// internal/awsapi, parses the body with media/mkv's Reader, "stores" each
// fragment it persists and acks as KVS does.
type fakeKVS struct {
	t *testing.T
	// plan decides, for the n-th fragment (1-based) read on connection
	// conn (1-based), what to do. nil persists everything.
	plan  func(conn, n int) action
	errID int
	// silent connections (1-based, up to this one) read the body and
	// never answer, like a hung service.
	silent int
	// listDown ListFragments calls fail (connection closed) before
	// they are answered.
	listDown int

	mu       sync.Mutex
	conns    int
	headers  []http.Header
	stored   map[int64]*mkv.Cluster // by timecode
	order    []int64
	dups     int
	notFirst int              // documents whose first event was not EventHeader
	lists    int              // ListFragments calls
	meta     map[int64]string // fragment timecode → "name=value ..." of the Tags before it
	tracks   *mkv.Tracks
	body     bytes.Buffer // what the first connection sent
}

func newFake(t *testing.T, plan func(conn, n int) action) (*fakeKVS, *httptest.Server) {
	f := &fakeKVS{t: t, plan: plan, stored: map[int64]*mkv.Cluster{}}
	v, err := awsapi.NewVerifier(awsapi.VerifierConfig{Credentials: map[string]string{testAKID: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /putMedia", v.Middleware(f))
	mux.Handle("POST /listFragments", v.Middleware(http.HandlerFunc(f.listFragments)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeKVS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.conns++
	conn := f.conns
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()

	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()
	if conn <= f.silent {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // until the client gives up
		return
	}
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	// drop closes the TCP connection, as a crash or a network failure
	// would.
	drop := func() {
		c, _, err := rc.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		c.Close()
	}
	send := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
		_ = rc.Flush()
	}
	var body io.Reader = r.Body
	if conn == 1 {
		body = io.TeeReader(r.Body, lockedWriter{&f.mu, &f.body})
	}
	rd := mkv.NewReader(body, mkv.ReaderConfig{})
	n := 0
	var tags string
	for first := true; ; first = false {
		ev, err := rd.Next()
		if err != nil {
			return
		}
		if first && ev != mkv.EventHeader {
			f.mu.Lock()
			f.notFirst++
			f.mu.Unlock()
		}
		switch ev {
		case mkv.EventTracks:
			f.mu.Lock()
			f.tracks = &mkv.Tracks{Entries: append([]mkv.Track(nil), rd.Tracks().Entries...)}
			f.mu.Unlock()
		case mkv.EventTags:
			tags = ""
			for _, tg := range rd.Tags().Tags {
				for _, st := range tg.SimpleTags {
					tags += st.Name + "=" + st.String + " "
				}
			}
		case mkv.EventClusterStart:
			f.mu.Lock()
			if f.meta == nil {
				f.meta = map[int64]string{}
			}
			f.meta[int64(rd.Cluster().Timecode)] = strings.TrimSpace(tags)
			f.mu.Unlock()
			tags = ""
			send(`{"EventType":"BUFFERING","FragmentTimecode":%d,"FragmentNumber":"%d"}`, rd.Cluster().Timecode, 1000+n)
		case mkv.EventCluster:
			n++
			c := rd.Cluster()
			act := actPersist
			if f.plan != nil {
				act = f.plan(conn, n)
			}
			switch act {
			case actError:
				send(`{"EventType":"ERROR","FragmentTimecode":%d,"ErrorId":%d,"ErrorCode":"X"}`, c.Timecode, f.errID)
				drop() // KVS closes the connection after an ERROR
				return
			case actLose:
				send(`{"EventType":"RECEIVED","FragmentTimecode":%d,"FragmentNumber":"%d"}`, c.Timecode, 1000+n)
				drop()
				return
			}
			f.store(c)
			send(`{"EventType":"RECEIVED","FragmentTimecode":%d,"FragmentNumber":"%d"}`, c.Timecode, 1000+n)
			if act == actStoreLose {
				drop()
				return
			}
			send(`{"EventType":"PERSISTED","FragmentTimecode":%d,"FragmentNumber":"%d"}`, c.Timecode, 1000+n)
			if act == actAbortAfter {
				drop()
				return
			}
		}
	}
}

// listFragments answers ListFragments by producer timestamp from the
// stored fragments (no pagination: one page of everything in range).
func (f *fakeKVS) listFragments(w http.ResponseWriter, r *http.Request) {
	var in struct {
		StreamName       string
		FragmentSelector struct {
			FragmentSelectorType string
			TimestampRange       struct{ StartTimestamp, EndTimestamp float64 }
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.FragmentSelector.FragmentSelectorType != "PRODUCER_TIMESTAMP" {
		awsapi.WriteError(w, r, awsapi.Errorf(awsapi.InvalidArgument, "bad ListFragments body: %v", err))
		return
	}
	lo := int64(math.Round(in.FragmentSelector.TimestampRange.StartTimestamp * 1e3))
	hi := int64(math.Round(in.FragmentSelector.TimestampRange.EndTimestamp * 1e3))
	type frag struct {
		FragmentNumber    string
		ProducerTimestamp json.Number
	}
	var out struct{ Fragments []frag }
	f.mu.Lock()
	f.lists++
	if f.lists <= f.listDown {
		f.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	for _, tc := range f.order {
		if tc >= lo && tc <= hi {
			out.Fragments = append(out.Fragments, frag{strconv.FormatInt(tc, 10), json.Number(formatMillis(tc))})
		}
	}
	f.mu.Unlock()
	awsapi.WriteJSON(w, out)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fakeKVS) store(c *mkv.Cluster) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.stored[int64(c.Timecode)]; ok {
		f.dups++
		return
	}
	f.stored[int64(c.Timecode)] = c.Clone()
	f.order = append(f.order, int64(c.Timecode))
}

// frameKey identifies a frame in the archive: track, absolute ms, data.
type frameKey struct {
	track uint64
	ms    int64
	data  string
}

// frames returns every stored frame with the number of times it is there.
func (f *fakeKVS) frames() map[frameKey]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[frameKey]int{}
	for _, tc := range f.order {
		c := f.stored[tc]
		for i := range c.Frames {
			fr := &c.Frames[i]
			out[frameKey{fr.Track, c.Time(fr), string(fr.Data)}]++
		}
	}
	return out
}

var testStart = time.UnixMilli(1_700_000_000_000)

func testConfig(endpoint string) Config {
	return Config{
		StreamName:   "cam-1",
		DataEndpoint: endpoint,
		AWS: aws.Config{
			Region:      testRegion,
			Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
		},
		Tracks: []Track{
			{Track: mkv.Track{Number: 1, Type: mkv.TrackTypeVideo, CodecID: CodecH264, CodecPrivate: []byte{1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}},
			{Track: mkv.Track{Number: 2, Type: mkv.TrackTypeAudio, CodecID: "A_OPUS"}},
		},
		StartTime:  testStart,
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
}

// testFrames makes n video frames at 25 fps (a key frame every gop) with
// an audio frame after each; every payload is unique.
func testFrames(n, gop int) []Frame {
	var out []Frame
	for i := range n {
		pts := time.Duration(i) * 40 * time.Millisecond
		out = append(out, Frame{Track: 1, PTS: pts, KeyFrame: i%gop == 0, Data: fmt.Appendf(nil, "video-%04d", i)})
		out = append(out, Frame{Track: 2, PTS: pts + 20*time.Millisecond, KeyFrame: true, Data: fmt.Appendf(nil, "audio-%04d", i)})
	}
	return out
}

func keyOf(f Frame) frameKey {
	return frameKey{f.Track, testStart.Add(f.PTS).UnixMilli(), string(f.Data)}
}

func putAll(t *testing.T, p *Producer, frames []Frame) {
	t.Helper()
	for _, f := range frames {
		if err := p.PutFrame(context.Background(), f); err != nil {
			t.Fatalf("PutFrame %s: %v", f.Data, err)
		}
	}
}

// checkExactlyOnce fails unless every frame is stored exactly once and
// nothing else is.
func checkExactlyOnce(t *testing.T, f *fakeKVS, frames []Frame) {
	t.Helper()
	got := f.frames()
	for _, fr := range frames {
		if n := got[keyOf(fr)]; n != 1 {
			t.Errorf("frame %s stored %d times", fr.Data, n)
		}
		delete(got, keyOf(fr))
	}
	for k, n := range got {
		t.Errorf("unexpected stored frame %q ×%d", k.data, n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dups != 0 {
		t.Errorf("%d fragments were sent again after being persisted", f.dups)
	}
	if f.notFirst != 0 {
		t.Errorf("%d connections did not start with an EBML header", f.notFirst)
	}
}

func closeWithin(t *testing.T, p *Producer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Close(ctx)
}

func TestProducerSendsEveryFrameOnce(t *testing.T) {
	fake, srv := newFake(t, nil)
	cfg := testConfig(srv.URL)
	var mu sync.Mutex
	var acks []Ack
	cfg.OnAck = func(a Ack) {
		mu.Lock()
		acks = append(acks, a)
		mu.Unlock()
	}
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	frames := testFrames(100, 25)
	putAll(t, p, frames)
	if err := closeWithin(t, p); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, fake, frames)

	st := p.Stats()
	if st.FragmentsPersisted != 4 || st.FramesPut != 200 || st.FramesDropped != 0 || st.BufferedFragments != 0 || st.BufferedBytes != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Connections != 1 {
		t.Errorf("%d connections, want 1", st.Connections)
	}
	mu.Lock()
	persisted := 0
	for _, a := range acks {
		if a.EventType == EventPersisted {
			persisted++
		}
	}
	mu.Unlock()
	if persisted != 4 {
		t.Errorf("OnAck saw %d PERSISTED, want 4", persisted)
	}
	h := fake.headers[0]
	for k, want := range map[string]string{
		"x-amzn-stream-name":                      "cam-1",
		"x-amzn-fragment-timecode-type":           "ABSOLUTE",
		"x-amzn-producer-start-timestamp":         "1700000000.000",
		"x-amzn-fragment-acknowledgment-required": "1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if fake.order[0] != testStart.UnixMilli() || fake.order[1] != testStart.UnixMilli()+1000 {
		t.Errorf("fragment timecodes %v, want key frames every 1000 ms from %d", fake.order, testStart.UnixMilli())
	}
}

func TestProducerResendsAfterConnectionLoss(t *testing.T) {
	for _, tt := range []struct {
		name string
		plan func(conn, n int) action
	}{
		// Fragment 3 is received but never persisted: it must be sent
		// again, and 1-2 must not.
		{"received not persisted", func(conn, n int) action {
			if conn == 1 && n == 3 {
				return actLose
			}
			return actPersist
		}},
		// The connection drops right after a PERSISTED ack.
		{"drop after persisted", func(conn, n int) action {
			if conn == 1 && n == 2 {
				return actAbortAfter
			}
			return actPersist
		}},
		// Three losses in a row, one fragment each.
		{"repeated losses", func(conn, n int) action {
			if conn <= 3 && n == 1 {
				return actLose
			}
			return actPersist
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := newFake(t, tt.plan)
			cfg := testConfig(srv.URL)
			var errs []error
			var mu sync.Mutex
			cfg.OnError = func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			frames := testFrames(150, 25)
			putAll(t, p, frames)
			if err := closeWithin(t, p); err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, fake, frames)
			st := p.Stats()
			if st.Connections < 2 || st.FramesDropped != 0 || st.FragmentsPersisted != 6 {
				t.Errorf("stats %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				t.Error("OnError not called for the lost connection")
			}
		})
	}
}

func TestProducerErrorAcks(t *testing.T) {
	for _, tt := range []struct {
		name        string
		errID       int
		wantStored  int // fragments
		wantDropped int
	}{
		{"internal error is retried", 5000, 4, 0},
		{"archival error is retried", 5001, 4, 0},
		{"bad timecode drops the fragment", 4004, 3, 1},
		{"invalid mkv drops the fragment", 4006, 3, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := newFake(t, func(conn, n int) action {
				if conn == 1 && n == 2 {
					return actError
				}
				return actPersist
			})
			fake.errID = tt.errID
			cfg := testConfig(srv.URL)
			var drops []Drop
			cfg.OnDrop = func(d Drop) { drops = append(drops, d) }
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			frames := testFrames(100, 25)
			putAll(t, p, frames)
			if err := closeWithin(t, p); err != nil {
				t.Fatal(err)
			}
			fake.mu.Lock()
			stored, dups := len(fake.stored), fake.dups
			fake.mu.Unlock()
			if stored != tt.wantStored || dups != 0 {
				t.Errorf("stored %d fragments (%d dups), want %d", stored, dups, tt.wantStored)
			}
			st := p.Stats()
			if int(st.FragmentsDropped) != tt.wantDropped || st.ErrorAcks != 1 {
				t.Errorf("stats %+v", st)
			}
			if tt.wantDropped > 0 {
				var ae *AckError
				if len(drops) != 1 || drops[0].Reason != DropRejected || !errors.As(drops[0].Err, &ae) || ae.ID != tt.errID ||
					drops[0].FragmentTimecode != testStart.UnixMilli()+1000 || drops[0].Frames != 50 {
					t.Errorf("drops %+v", drops)
				}
			} else {
				checkExactlyOnce(t, fake, frames)
			}
		})
	}
}

func TestProducerFatalErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		code   string
	}{
		{"unknown stream", http.StatusNotFound, "ResourceNotFoundException"},
		{"not authorized", http.StatusUnauthorized, "NotAuthorizedException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<10))
				awsapi.WriteError(w, r, awsapi.Errorf(awsapi.Code(tt.code), "nope"))
			}))
			defer srv.Close()
			p, err := Start(context.Background(), testConfig(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			putAll(t, p, testFrames(10, 5))
			err = closeWithin(t, p)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.StatusCode != tt.status {
				t.Fatalf("Close: %v, want %s %d", err, tt.code, tt.status)
			}
			if err := p.PutFrame(context.Background(), testFrames(1, 1)[0]); !errors.As(err, &ae) {
				t.Errorf("PutFrame after failure: %v", err)
			}
		})
	}
}

// downClient fails every request at once, as a network with the
// service down does, without reading the body.
type downClient struct{}

func (downClient) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("connect: connection refused")
}

// unreachableConfig is testConfig for a service that cannot be reached.
func unreachableConfig() Config {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.HTTPClient = downClient{}
	return cfg
}

func TestProducerBufferBounds(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		cfg := unreachableConfig()
		cfg.MaxBufferBytes = 3000 // about three 25-frame fragments of test frames
		var drops []Drop
		var mu sync.Mutex
		cfg.OnDrop = func(d Drop) {
			mu.Lock()
			drops = append(drops, d)
			mu.Unlock()
		}
		p, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		putAll(t, p, testFrames(250, 25))
		st := p.Stats()
		if st.BufferedBytes > cfg.MaxBufferBytes || st.FragmentsDropped == 0 || st.BufferedFragments < 2 {
			t.Errorf("stats %+v", st)
		}
		mu.Lock()
		// The oldest go first, in order.
		for i, d := range drops {
			if !d.Fragment || d.Reason != DropBufferFull || d.FragmentTimecode != testStart.UnixMilli()+int64(i)*1000 {
				t.Errorf("drop %d: %+v", i, d)
			}
		}
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Close with a done context: %v", err)
		}
	})
	t.Run("duration and pressure", func(t *testing.T) {
		cfg := unreachableConfig()
		cfg.MaxBufferDuration = 3 * time.Second
		cfg.MaxLatency = 2 * time.Second
		var pressure []time.Duration
		var mu sync.Mutex
		cfg.OnLatencyPressure = func(d time.Duration) {
			mu.Lock()
			pressure = append(pressure, d)
			mu.Unlock()
		}
		p, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background()) //nolint:errcheck // abandoned on purpose below
		putAll(t, p, testFrames(250, 25))
		st := p.Stats()
		if st.BufferedDuration > cfg.MaxBufferDuration || st.FragmentsDropped == 0 {
			t.Errorf("stats %+v", st)
		}
		mu.Lock()
		if len(pressure) != 1 || pressure[0] <= cfg.MaxLatency {
			t.Errorf("latency pressure calls %v, want one above %v", pressure, cfg.MaxLatency)
		}
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Close(ctx)
	})
}

func TestProducerFrameRules(t *testing.T) {
	cfg := unreachableConfig()
	cfg.MaxFragmentDuration = 2 * time.Second
	var drops []Drop
	var mu sync.Mutex
	cfg.OnDrop = func(d Drop) {
		mu.Lock()
		drops = append(drops, d)
		mu.Unlock()
	}
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(f Frame) error { return p.PutFrame(ctx, f) }
	// Audio before the first key frame is dropped.
	if err := put(Frame{Track: 2, PTS: 0, Data: []byte("a0")}); err != nil {
		t.Fatal(err)
	}
	if err := put(Frame{Track: 1, PTS: 10 * time.Millisecond, KeyFrame: true, Data: []byte("k1")}); err != nil {
		t.Fatal(err)
	}
	// 3 s without a key frame: too long for one fragment.
	if err := put(Frame{Track: 1, PTS: 3 * time.Second, Data: []byte("p1")}); err != nil {
		t.Fatal(err)
	}
	// A key frame at or before the previous fragment's timecode.
	if err := put(Frame{Track: 1, PTS: 5 * time.Millisecond, KeyFrame: true, Data: []byte("k0")}); !errors.Is(err, ErrTimestamp) {
		t.Errorf("earlier key frame: %v, want ErrTimestamp", err)
	}
	if err := put(Frame{Track: 3, Data: []byte("x")}); !errors.Is(err, ErrBadTrack) {
		t.Errorf("unknown track: %v", err)
	}
	if err := put(Frame{Track: 1}); !errors.Is(err, ErrBadTrack) {
		t.Errorf("empty frame: %v", err)
	}
	mu.Lock()
	if len(drops) != 2 || drops[0].Reason != DropBeforeKeyFrame || drops[1].Reason != DropFragmentTooLong || drops[1].PTS != 3*time.Second {
		t.Errorf("drops %+v", drops)
	}
	mu.Unlock()
	c, cancel := context.WithCancel(ctx)
	cancel()
	_ = p.Close(c)
	if err := put(Frame{Track: 1, PTS: 4 * time.Second, KeyFrame: true, Data: []byte("k2")}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	base := testConfig("http://127.0.0.1:1")
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"no stream", func(c *Config) { c.StreamName = "" }, ErrNoStream},
		{"no tracks", func(c *Config) { c.Tracks = nil }, ErrNoTracks},
		{"four tracks", func(c *Config) { c.Tracks = append(c.Tracks, c.Tracks[0], c.Tracks[0]) }, ErrNoTracks},
		{"repeated track", func(c *Config) { c.Tracks[1].Number = 1 }, ErrBadTrack},
		{"annexb audio", func(c *Config) { c.Tracks[1].AnnexB = true }, ErrBadTrack},
		{"bad key track", func(c *Config) { c.KeyFrameTrack = 9 }, ErrBadTrack},
		{"no credentials", func(c *Config) { c.AWS.Credentials = nil }, ErrNoCredentials},
		{"no region", func(c *Config) { c.AWS.Region = "" }, ErrNoRegion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.Tracks = append([]Track(nil), base.Tracks...)
			tt.edit(&c)
			if _, err := Start(context.Background(), c); !errors.Is(err, tt.want) {
				t.Errorf("Start: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProducerOffline(t *testing.T) {
	t.Run("waits instead of dropping", func(t *testing.T) {
		fake, srv := newFake(t, func(conn, n int) action {
			if conn == 1 && n == 4 {
				return actLose
			}
			return actPersist
		})
		cfg := testConfig(srv.URL)
		cfg.Offline = true
		cfg.MaxBufferBytes = 3000
		if os.Getenv("PRODUCER_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		p, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		frames := testFrames(250, 25)
		putAll(t, p, frames)
		if err := closeWithin(t, p); err != nil {
			t.Fatal(err)
		}
		checkExactlyOnce(t, fake, frames)
		if st := p.Stats(); st.FramesDropped != 0 || st.FragmentsPersisted != 10 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("gives up with its context", func(t *testing.T) {
		cfg := unreachableConfig()
		cfg.Offline = true
		cfg.MaxBufferBytes = 3000
		p, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var putErr error
		for _, f := range testFrames(250, 25) {
			if putErr = p.PutFrame(ctx, f); putErr != nil {
				break
			}
		}
		if !errors.Is(putErr, context.Canceled) {
			t.Errorf("PutFrame: %v, want context.Canceled once the buffer is full", putErr)
		}
		if st := p.Stats(); st.FramesDropped != 0 || st.BufferedBytes > cfg.MaxBufferBytes {
			t.Errorf("stats %+v", st)
		}
		_ = p.Close(ctx)
	})
}

// TestProducerCrashBeforePersisted: the service stores a fragment and
// dies before PERSISTED. Looked up with ListFragments, it is not sent
// again; with ResendUnchecked it is stored twice (which shows the check
// is what prevents it).
func TestProducerCrashBeforePersisted(t *testing.T) {
	for _, tt := range []struct {
		unchecked bool
		listDown  int
	}{{false, 0}, {false, 3}, {true, 0}} {
		unchecked := tt.unchecked
		t.Run(fmt.Sprintf("unchecked=%v,listDown=%d", tt.unchecked, tt.listDown), func(t *testing.T) {
			fake, srv := newFake(t, func(conn, n int) action {
				if conn == 1 && n == 3 {
					return actStoreLose
				}
				return actPersist
			})
			fake.listDown = tt.listDown
			cfg := testConfig(srv.URL)
			cfg.ResendUnchecked = unchecked
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			frames := testFrames(150, 25)
			putAll(t, p, frames)
			if err := closeWithin(t, p); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			fake.mu.Lock()
			dups, lists := fake.dups, fake.lists
			fake.mu.Unlock()
			if unchecked {
				if dups != 1 || lists != 0 {
					t.Errorf("%d duplicates, %d ListFragments calls; want 1 and 0", dups, lists)
				}
				return
			}
			checkExactlyOnce(t, fake, frames)
			if lists != tt.listDown+1 || st.FragmentsFoundStored != 1 || st.FragmentsPersisted != 6 {
				t.Errorf("%d ListFragments calls, stats %+v", lists, st)
			}
		})
	}
}

// TestProducerStaleConnection: a service that takes the data and never
// answers is given up after StaleTimeout, and everything is resent on a
// new connection.
func TestProducerStaleConnection(t *testing.T) {
	fake, srv := newFake(t, nil)
	fake.silent = 1
	cfg := testConfig(srv.URL)
	cfg.StaleTimeout = 200 * time.Millisecond
	errs := make(chan error, 10)
	cfg.OnError = func(err error) { errs <- err }
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	frames := testFrames(100, 25)
	putAll(t, p, frames)
	if err := closeWithin(t, p); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, fake, frames)
	select {
	case err := <-errs:
		if !errors.Is(err, errStale) {
			t.Errorf("OnError(%v), want errStale", err)
		}
	default:
		t.Error("OnError was not called")
	}
	if st := p.Stats(); st.Connections != 2 || st.FragmentsPersisted != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestProducerFragmentMetadata(t *testing.T) {
	// The first fragment is lost once: it is resent with its metadata.
	fake, srv := newFake(t, func(conn, n int) action {
		if conn == 1 && n == 1 {
			return actLose
		}
		return actPersist
	})
	p, err := Start(context.Background(), testConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.PutFragmentMetadata("camera", "front", true))
	must(p.PutFragmentMetadata("event", "motion", false))
	frames := testFrames(100, 25)
	putAll(t, p, frames[:100]) // fragments 1 and 2
	must(p.PutFragmentMetadata("event", "door", false))
	must(p.PutFragmentMetadata("camera", "back", true))
	putAll(t, p, frames[100:150]) // fragment 3
	must(p.PutFragmentMetadata("camera", "", true))
	putAll(t, p, frames[150:]) // fragment 4

	if err := p.PutFragmentMetadata("AWS_KINESISVIDEO_X", "v", false); !errors.Is(err, ErrMetadata) {
		t.Errorf("reserved name: %v", err)
	}
	for i := range 10 {
		must(p.PutFragmentMetadata(fmt.Sprintf("k%d", i), "v", false))
	}
	if err := p.PutFragmentMetadata("k10", "v", false); !errors.Is(err, ErrMetadata) {
		t.Errorf("11th pair: %v", err)
	}
	if err := closeWithin(t, p); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, fake, frames)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	base := testStart.UnixMilli()
	for i, want := range []string{"camera=front event=motion", "camera=front", "camera=back event=door", ""} {
		if got := fake.meta[base+int64(i)*1000]; got != want {
			t.Errorf("fragment %d metadata %q, want %q", i+1, got, want)
		}
	}
}
