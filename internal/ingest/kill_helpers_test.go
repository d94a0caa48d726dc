package ingest_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/testserver"
)

// killRun is what a producer sent to a server killed with SIGKILL in the
// middle of its upload, and what that server acknowledged PERSISTED.
type killRun struct {
	stream    string
	mu        sync.Mutex
	sent      map[uint64][]byte // cluster timecode → Cluster bytes
	persisted map[string]uint64 // fragment number → cluster timecode
}

// createKillStream creates stream name (one hour of retention) through the
// server at url.
func createKillStream(t *testing.T, url, name string) {
	t.Helper()
	kvs := kinesisvideo.NewFromConfig(aws.Config{
		Region: testRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
	})
	if _, err := kvs.CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{
		StreamName: aws.String(name), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
}

// ingestUntilKill sends clusters of 64 KiB to stream on srv as fast as it
// takes them, kills srv once n fragments were acknowledged PERSISTED (the
// producer is still writing), and collects the acks that came before the
// connection ended.
func ingestUntilKill(t *testing.T, srv *testserver.Process, stream string, n int) *killRun {
	t.Helper()
	r := &killRun{stream: stream, sent: map[uint64][]byte{}, persisted: map[string]uint64{}}
	s := startPutMedia(t, nil, srv.URL, putOptions{name: stream})
	if s.status != 200 {
		t.Fatalf("status %d: %s", s.status, s.errMsg)
	}
	sy := newSynth(t, 1)
	_ = s.write(sy.take())
	go func() {
		for tc := uint64(0); ; tc += 100 {
			sy.cluster(t, tc, 4, 16<<10)
			b := sy.take()
			r.mu.Lock()
			r.sent[tc] = b
			r.mu.Unlock()
			if s.write(b) != nil {
				return
			}
		}
	}()
	for len(r.persisted) < n {
		a, ok := s.next()
		if !ok {
			t.Fatal("ack stream ended before the kill")
		}
		switch a.EventType {
		case "PERSISTED":
			r.persisted[a.number()] = a.tc()
		case "ERROR":
			t.Fatalf("ERROR ack: %s", a.raw)
		}
	}
	srv.Kill()
	for a := range s.acks {
		if a.EventType == "PERSISTED" {
			r.persisted[a.number()] = a.tc()
		}
	}
	s.body.CloseWithError(io.ErrClosedPipe)
	return r
}

// resume sends one more fragment to the server at url on a new connection,
// as a producer does after its connection was lost, and expects it
// PERSISTED.
func (r *killRun) resume(t *testing.T, url string) {
	t.Helper()
	s := startPutMedia(t, nil, url, putOptions{name: r.stream})
	sy := newSynth(t, 1)
	sy.cluster(t, 1_000_000, 4, 1000)
	_ = s.write(sy.take())
	s.close()
	expectEvents(t, s.rest(), "BUFFERING", "RECEIVED", "PERSISTED")
}

// check reports every fragment acknowledged PERSISTED that is missing from
// stored (by number) or whose bytes, read with read, differ from those
// sent, and wants the resumed fragment stored too.
func (r *killRun) check(t *testing.T, stored map[string]*archive.Fragment, read func(*archive.Fragment) ([]byte, error)) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for num, tc := range r.persisted {
		f := stored[num]
		if f == nil {
			t.Errorf("fragment %s (timecode %d) was acknowledged PERSISTED but is gone after kill -9", num, tc)
			continue
		}
		raw, err := read(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, r.sent[tc]) {
			t.Errorf("fragment %s: stored bytes differ from those sent", num)
		}
	}
	if len(stored) < len(r.persisted)+1 {
		t.Errorf("%d fragments stored, want at least %d persisted + 1 after the kill", len(stored), len(r.persisted))
	}
	t.Logf("%d fragments PERSISTED before the kill, %d stored", len(r.persisted), len(stored))
}
