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

// TestPutMediaKill9 builds the real openkvs binary, ingests into it, kills
// it with SIGKILL in the middle of the upload, restarts it on the same data
// dir and checks that every fragment acknowledged PERSISTED before the kill
// is there, byte for byte, and that ingest goes on after the restart.
func TestPutMediaKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the openkvs binary")
	}
	bin := testserver.Build(t)
	dir := t.TempDir()
	srv := testserver.StartProcess(t, bin, dir, "127.0.0.1:0", "--credentials", testAKID+":"+testSecret)
	kvs := kinesisvideo.NewFromConfig(aws.Config{
		Region: testRegion, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
	})
	if _, err := kvs.CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("crash"), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}

	// The producer: clusters of 64 KiB as fast as the server takes them.
	var mu sync.Mutex
	sent := map[uint64][]byte{} // cluster timecode → Cluster bytes
	s := startPutMedia(t, nil, srv.URL, putOptions{name: "crash"})
	if s.status != 200 {
		t.Fatalf("status %d: %s", s.status, s.errMsg)
	}
	sy := newSynth(t, 1)
	_ = s.write(sy.take())
	go func() {
		for tc := uint64(0); ; tc += 100 {
			sy.cluster(t, tc, 4, 16<<10)
			b := sy.take()
			mu.Lock()
			sent[tc] = b
			mu.Unlock()
			if s.write(b) != nil {
				return
			}
		}
	}()
	persisted := map[string]uint64{}
	for len(persisted) < 40 {
		a, ok := s.next()
		if !ok {
			t.Fatal("ack stream ended before the kill")
		}
		switch a.EventType {
		case "PERSISTED":
			persisted[a.number()] = a.tc()
		case "ERROR":
			t.Fatalf("ERROR ack: %s", a.raw)
		}
	}
	srv.Kill() // mid-upload: the producer is still writing
	for a := range s.acks {
		if a.EventType == "PERSISTED" {
			persisted[a.number()] = a.tc()
		}
	}
	s.body.CloseWithError(io.ErrClosedPipe)

	// Restart on the same dir; the producer resumes on a new connection.
	srv = testserver.StartProcess(t, bin, dir, "127.0.0.1:0", "--credentials", testAKID+":"+testSecret)
	s2 := startPutMedia(t, nil, srv.URL, putOptions{name: "crash"})
	resume := newSynth(t, 1)
	resume.cluster(t, 1_000_000, 4, 1000)
	_ = s2.write(resume.take())
	s2.close()
	expectEvents(t, s2.rest(), "BUFFERING", "RECEIVED", "PERSISTED")
	srv.Stop(t)

	arch, err := archive.Open(archive.Config{Dir: dir, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	stored := map[string]*archive.Fragment{}
	for _, f := range storedFragments(t, arch, "crash") {
		stored[f.Number.String()] = f
	}
	mu.Lock()
	defer mu.Unlock()
	for num, tc := range persisted {
		f := stored[num]
		if f == nil {
			t.Errorf("fragment %s (timecode %d) was acknowledged PERSISTED but is gone after kill -9", num, tc)
			continue
		}
		raw, err := arch.ReadCluster("crash", f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, sent[tc]) {
			t.Errorf("fragment %s: stored bytes differ from those sent", num)
		}
	}
	if len(stored) < len(persisted)+1 {
		t.Errorf("%d fragments stored, want at least %d persisted + 1 after the restart", len(stored), len(persisted))
	}
	t.Logf("%d fragments PERSISTED before the kill, %d stored after the restart", len(persisted), len(stored))
}
