package playback

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/mkv"
)

type selectorJSON struct {
	StartSelectorType   string   `json:"StartSelectorType,omitempty"`
	AfterFragmentNumber string   `json:"AfterFragmentNumber,omitempty"`
	StartTimestamp      *float64 `json:"StartTimestamp,omitempty"`
	ContinuationToken   string   `json:"ContinuationToken,omitempty"`
}

type getMediaJSON struct {
	StreamName    string        `json:"StreamName,omitempty"`
	StreamARN     string        `json:"StreamARN,omitempty"`
	StartSelector *selectorJSON `json:"StartSelector,omitempty"`
}

func epochSeconds(t time.Time) *float64 {
	v := float64(t.UnixMilli()) / 1000
	return &v
}

// TestGetMediaFrames reads a whole stream with EARLIEST: every chunk
// carries its fragment's frames byte for byte, the stream header, the KVS
// tags before and after the Cluster and the producer's metadata tags; and
// ffprobe reads the output file.
func TestGetMediaFrames(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	h, src := loadSource(t, liveSourceFile)
	producerTags := mkv.AppendTags(nil, []mkv.Tag{{SimpleTags: []mkv.SimpleTag{{Name: "camera", String: "door"}}}})
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var frags []*archive.Fragment
	for i, s := range src {
		var tags []byte
		if i == 1 {
			tags = producerTags
		}
		frags = append(frags, e.put(mediaTestStream, h, s, base.Add(time.Duration(i)*500*time.Millisecond), tags))
	}

	ctx, cancel := context.WithCancel(context.Background())
	resp := e.post(ctx, "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "EARLIEST"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var raw bytes.Buffer
	cr := newChunkReader(io.TeeReader(resp.Body, &raw))
	var chunks []*chunk
	for i := range frags {
		c, err := cr.next()
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		checkChunk(t, c, frags[i], src[i])
		chunks = append(chunks, c)
	}
	if err := cr.finish(); err != nil {
		t.Fatal(err)
	}
	last := frags[len(frags)-1]
	for i, c := range chunks {
		if tok := c.post[mkv.TagContinuationToken]; tok != frags[i].Number.String() {
			t.Errorf("chunk %d continuation token %q, want %s", i, tok, frags[i].Number)
		}
		want := strconv.FormatInt(last.ServerTime().Sub(frags[i].ServerTime()).Milliseconds(), 10)
		if v := c.post[mkv.TagMillisBehindNow]; v != want {
			t.Errorf("chunk %d millis behind now %q, want %s", i, v, want)
		}
	}
	if v := chunks[1].pre["camera"]; v != "door" {
		t.Errorf("producer tag camera = %q in chunk 1, want door", v)
	}
	if _, ok := chunks[0].pre["camera"]; ok {
		t.Errorf("producer tag of fragment 1 in chunk 0")
	}
	cancel()
	resp.Body.Close()
	e.waitSessions(mediaTestStream, 0)

	// ffprobe reads the output, every chunk of it.
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	path := filepath.Join(t.TempDir(), "getmedia.mkv")
	if err := os.WriteFile(path, raw.Bytes()[:chunks[len(chunks)-1].end], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=stream_index,size", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var want []string
	for _, s := range src {
		for _, f := range s.frames {
			want = append(want, strconv.FormatUint(f.Track-1, 10)+","+strconv.Itoa(len(f.Data)))
		}
	}
	got := strings.Fields(string(out))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ffprobe read %d packets, want %d (first differences: got %.200q want %.200q)", len(got), len(want), strings.Join(got, " "), strings.Join(want, " "))
	}
}

// firstChunk starts a GetMedia and returns its first chunk.
func (e *mediaEnv) firstChunk(req getMediaJSON) *chunk {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := e.post(ctx, "/getMedia", req)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("GetMedia status %d: %s", resp.StatusCode, b)
	}
	c, err := newChunkReader(resp.Body).next()
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestGetMediaStartSelectors(t *testing.T) {
	// More GetMedia calls in one frozen second than KVS allows.
	e := newMediaEnvRates(t, MediaConfig{}, RateConfig{GetMediaPerSecond: -1})
	h, src := loadSource(t, liveSourceFile)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var frags []*archive.Fragment
	for i := range 10 {
		frags = append(frags, e.put(mediaTestStream, h, src[i%len(src)], base.Add(time.Duration(i)*2*time.Second), nil))
	}
	for _, tt := range []struct {
		name string
		sel  selectorJSON
		arn  bool
		want int
	}{
		{"EARLIEST", selectorJSON{StartSelectorType: "EARLIEST"}, false, 0},
		{"EARLIEST by ARN", selectorJSON{StartSelectorType: "EARLIEST"}, true, 0},
		{"NOW starts at the latest", selectorJSON{StartSelectorType: "NOW"}, false, 9},
		{"FRAGMENT_NUMBER starts after it", selectorJSON{StartSelectorType: "FRAGMENT_NUMBER", AfterFragmentNumber: frags[3].Number.String()}, false, 4},
		{"CONTINUATION_TOKEN starts after it", selectorJSON{StartSelectorType: "CONTINUATION_TOKEN", ContinuationToken: frags[5].Number.String()}, false, 6},
		{"SERVER_TIMESTAMP inside a fragment", selectorJSON{StartSelectorType: "SERVER_TIMESTAMP", StartTimestamp: epochSeconds(frags[2].ServerTime().Add(500 * time.Millisecond))}, false, 2},
		{"SERVER_TIMESTAMP at a fragment start", selectorJSON{StartSelectorType: "SERVER_TIMESTAMP", StartTimestamp: epochSeconds(frags[6].ServerTime())}, false, 6},
		{"SERVER_TIMESTAMP before every fragment", selectorJSON{StartSelectorType: "SERVER_TIMESTAMP", StartTimestamp: epochSeconds(frags[0].ServerTime().Add(-time.Hour))}, false, 0},
		{"PRODUCER_TIMESTAMP inside a fragment", selectorJSON{StartSelectorType: "PRODUCER_TIMESTAMP", StartTimestamp: epochSeconds(frags[7].ProducerTime.Add(100 * time.Millisecond))}, false, 7},
		{"PRODUCER_TIMESTAMP between fragments", selectorJSON{StartSelectorType: "PRODUCER_TIMESTAMP", StartTimestamp: epochSeconds(frags[7].ProducerTime.Add(1500 * time.Millisecond))}, false, 8},
		{"PRODUCER_TIMESTAMP before every fragment", selectorJSON{StartSelectorType: "PRODUCER_TIMESTAMP", StartTimestamp: epochSeconds(base.Add(-time.Hour))}, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := getMediaJSON{StreamName: mediaTestStream, StartSelector: &tt.sel}
			if tt.arn {
				req = getMediaJSON{StreamARN: e.arn, StartSelector: &tt.sel}
			}
			c := e.firstChunk(req)
			if got := c.pre[mkv.TagFragmentNumber]; got != frags[tt.want].Number.String() {
				t.Fatalf("first fragment %s, want fragment %d (%s)", got, tt.want, frags[tt.want].Number)
			}
		})
	}
}

func TestGetMediaBadRequests(t *testing.T) {
	// More GetMedia calls in one frozen second than KVS allows.
	e := newMediaEnvRates(t, MediaConfig{}, RateConfig{GetMediaPerSecond: -1})
	h, src := loadSource(t, liveSourceFile)
	f := e.put(mediaTestStream, h, src[0], time.Now(), nil)
	missing := archive.Number{Millis: f.Number.Millis + 1}.String()
	now := selectorJSON{StartSelectorType: "NOW"}
	for _, tt := range []struct {
		name string
		body any
		code awsapi.Code
	}{
		{"unknown stream", getMediaJSON{StreamName: "nope", StartSelector: &now}, awsapi.ResourceNotFound},
		{"unknown stream ARN", getMediaJSON{StreamARN: awsapi.NewARN("us-west-2", "123456789012", "stream", "nope", time.Now()), StartSelector: &now}, awsapi.ResourceNotFound},
		{"recreated stream's old ARN", getMediaJSON{StreamARN: awsapi.NewARN("us-west-2", "123456789012", "stream", mediaTestStream, time.Unix(1, 0)), StartSelector: &now}, awsapi.ResourceNotFound},
		{"no stream", getMediaJSON{StartSelector: &now}, awsapi.InvalidArgument},
		{"bad stream name", getMediaJSON{StreamName: "a/b", StartSelector: &now}, awsapi.InvalidArgument},
		{"bad ARN", getMediaJSON{StreamARN: "arn:nope", StartSelector: &now}, awsapi.InvalidArgument},
		{"channel ARN", getMediaJSON{StreamARN: awsapi.NewARN("us-west-2", "123456789012", "channel", mediaTestStream, time.Now()), StartSelector: &now}, awsapi.InvalidArgument},
		{"name and ARN differ", getMediaJSON{StreamName: "other", StreamARN: e.arn, StartSelector: &now}, awsapi.InvalidArgument},
		{"no selector", getMediaJSON{StreamName: mediaTestStream}, awsapi.InvalidArgument},
		{"no selector type", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{}}, awsapi.InvalidArgument},
		{"unknown selector type", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "LATEST"}}, awsapi.InvalidArgument},
		{"lower-case selector type", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "now"}}, awsapi.InvalidArgument},
		{"FRAGMENT_NUMBER without number", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "FRAGMENT_NUMBER"}}, awsapi.InvalidArgument},
		{"FRAGMENT_NUMBER not digits", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "FRAGMENT_NUMBER", AfterFragmentNumber: "12a"}}, awsapi.InvalidArgument},
		{"FRAGMENT_NUMBER too long", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "FRAGMENT_NUMBER", AfterFragmentNumber: strings.Repeat("1", 129)}}, awsapi.InvalidArgument},
		{"FRAGMENT_NUMBER never made", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "FRAGMENT_NUMBER", AfterFragmentNumber: "12345"}}, awsapi.ResourceNotFound},
		{"FRAGMENT_NUMBER not in the stream", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "FRAGMENT_NUMBER", AfterFragmentNumber: missing}}, awsapi.ResourceNotFound},
		{"CONTINUATION_TOKEN without token", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "CONTINUATION_TOKEN"}}, awsapi.InvalidArgument},
		{"CONTINUATION_TOKEN bad characters", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "CONTINUATION_TOKEN", ContinuationToken: "a b"}}, awsapi.InvalidArgument},
		{"CONTINUATION_TOKEN not ours", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "CONTINUATION_TOKEN", ContinuationToken: "abc.def"}}, awsapi.InvalidArgument},
		{"SERVER_TIMESTAMP without time", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "SERVER_TIMESTAMP"}}, awsapi.InvalidArgument},
		{"PRODUCER_TIMESTAMP without time", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "PRODUCER_TIMESTAMP"}}, awsapi.InvalidArgument},
		{"timestamp not a number", `{"StreamName":"cam","StartSelector":{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":"soon"}}`, awsapi.SerializationError},
		{"selector of the wrong type", `{"StreamName":"cam","StartSelector":"NOW"}`, awsapi.SerializationError},
		{"malformed JSON", `{"StreamName":`, awsapi.SerializationError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.post(context.Background(), "/getMedia", tt.body), tt.code)
		})
	}
	e.waitSessions(mediaTestStream, 0)
}

// chunks reads GetMedia chunks into a channel until the body ends.
func readChunks(body io.Reader) <-chan *chunk {
	ch := make(chan *chunk, 16)
	go func() {
		defer close(ch)
		cr := newChunkReader(body)
		for {
			c, err := cr.next()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

func receive(t testing.TB, ch <-chan *chunk) *chunk {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("GetMedia stream ended")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no chunk within 10 s")
	}
	return nil
}

// TestGetMediaFollowsLiveEdge: readers started before the data see each
// fragment put after them, and a SERVER_TIMESTAMP in the future skips what
// ends before it.
func TestGetMediaFollowsLiveEdge(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{})
	h, src := loadSource(t, liveSourceFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nowResp := e.post(ctx, "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "NOW"}})
	defer nowResp.Body.Close()
	earliestResp := e.post(ctx, "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "EARLIEST"}})
	defer earliestResp.Body.Close()
	// Fragments are put one second apart; the first will start 1 s from
	// now. This reader wants 2.5 s from now: fragment 1 (1 s .. 2 s) is
	// passed over, fragment 2 (2 s .. 3 s) contains the time.
	future := e.clock.Now().Add(2500 * time.Millisecond)
	futureResp := e.post(ctx, "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "SERVER_TIMESTAMP", StartTimestamp: epochSeconds(future)}})
	defer futureResp.Body.Close()
	for _, r := range []*http.Response{nowResp, earliestResp, futureResp} {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	e.waitSessions(mediaTestStream, 3)
	nowCh, earliestCh, futureCh := readChunks(nowResp.Body), readChunks(earliestResp.Body), readChunks(futureResp.Body)
	var frags []*archive.Fragment
	for i := range 4 {
		f := e.put(mediaTestStream, h, src[i], time.Now(), nil)
		frags = append(frags, f)
		checkChunk(t, receive(t, nowCh), f, src[i])
		checkChunk(t, receive(t, earliestCh), f, src[i])
	}
	checkChunk(t, receive(t, futureCh), frags[1], src[1])
	checkChunk(t, receive(t, futureCh), frags[2], src[2])
	cancel()
	e.waitSessions(mediaTestStream, 0)
}

func TestGetMediaConnectionLimitAndClose(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{MaxGetMediaPerStream: 2})
	e.createStream("other")
	now := &selectorJSON{StartSelectorType: "NOW"}
	open := func(stream string) *http.Response {
		t.Helper()
		resp := e.post(context.Background(), "/getMedia", getMediaJSON{StreamName: stream, StartSelector: now})
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GetMedia %s: status %d %s", stream, resp.StatusCode, b)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	r1, r2 := open(mediaTestStream), open(mediaTestStream)
	wantError(t, e.post(context.Background(), "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: now}), awsapi.ConnectionLimitExceeded)
	other := open("other") // other streams are not affected
	r1.Body.Close()
	e.waitSessions(mediaTestStream, 1)
	r3 := open(mediaTestStream)

	// A deleted stream's readers are ended; other streams' are not.
	e.svc.CloseStream(mediaTestStream)
	for _, r := range []*http.Response{r2, r3} {
		if b, err := io.ReadAll(r.Body); err != nil || len(b) != 0 {
			t.Fatalf("after CloseStream: %d bytes, %v", len(b), err)
		}
	}
	e.waitSessions(mediaTestStream, 0)
	e.waitSessions("other", 1)

	// Close ends the rest and refuses new sessions.
	_ = e.svc.Close()
	if _, err := io.ReadAll(other.Body); err != nil {
		t.Fatal(err)
	}
	e.waitSessions("other", 0)
	wantError(t, e.post(context.Background(), "/getMedia", getMediaJSON{StreamName: "other", StartSelector: now}), awsapi.ClientLimitExceeded)
}

// TestErrorChunk: the last chunk of a failed stream carries the fragment
// number and the error tags the KVS parser library reads.
func TestErrorChunk(t *testing.T) {
	h, src := loadSource(t, liveSourceFile)
	for _, withHeader := range []bool{false, true} {
		var buf bytes.Buffer
		cw := &chunkWriter{w: &buf}
		f := &archive.Fragment{Number: archive.Number{Millis: 1700000000123, Seq: 2}, ProducerTime: time.UnixMilli(1700000000000), Header: h}
		if withHeader {
			if err := cw.writeChunk(f, src[0].raw); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.writeError(f, errIDFragmentNotFound, "Requested fragment is not found"); err != nil {
			t.Fatal(err)
		}
		cr := newChunkReader(&buf)
		if withHeader {
			if _, err := cr.next(); err != nil {
				t.Fatal(err)
			}
		}
		c, err := cr.next()
		if err != nil {
			t.Fatal(err)
		}
		if c.c != nil || c.pre[mkv.TagFragmentNumber] != f.Number.String() || c.pre[mkv.TagErrorID] != "4000" || c.pre[mkv.TagErrorCode] == "" {
			t.Fatalf("error chunk: cluster %v, tags %v", c.c != nil, c.pre)
		}
		if _, err := cr.next(); err != io.EOF {
			t.Fatalf("after the error chunk: %v, want EOF", err)
		}
	}
}

// TestGetMediaStalledReader: a client that stops reading is dropped after
// WriteTimeout instead of holding its session forever.
func TestGetMediaStalledReader(t *testing.T) {
	e := newMediaEnv(t, MediaConfig{WriteTimeout: 100 * time.Millisecond})
	h, _ := loadSource(t, liveSourceFile)
	// One fragment far larger than the loopback socket buffers.
	big, err := mkv.AppendCluster(nil, 0, []mkv.Frame{{Track: 1, Keyframe: true, Data: make([]byte, 32<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(mediaTestStream, h, sourceFragment{raw: big}, time.Now(), nil)
	resp := e.post(context.Background(), "/getMedia", getMediaJSON{StreamName: mediaTestStream, StartSelector: &selectorJSON{StartSelectorType: "EARLIEST"}})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Never read the body: the server gives up on its own.
	e.waitSessions(mediaTestStream, 0)
}
