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
	"github.com/openkvs/openkvs/internal/blob/s3blob"
	"github.com/openkvs/openkvs/internal/objarchive"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestPutMediaKill9Cluster runs the real openkvs binary as a cluster node
// (PostgreSQL catalog, fragments on SeaweedFS), kills it with SIGKILL in
// the middle of an upload, lets the producer go on with a second node, and
// checks that every fragment acknowledged PERSISTED by the dead node is in
// the shared archive byte for byte.
func TestPutMediaKill9Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the openkvs binary")
	}
	dsn := pgtest.Start(t)
	s3srv := s3test.Start(t)
	bucket := s3srv.NewBucket(t)
	bin := testserver.Build(t)
	node := func() *testserver.Process {
		return testserver.StartProcess(t, bin, t.TempDir(), "127.0.0.1:0", "--credentials", testAKID+":"+testSecret,
			"--catalog", dsn, "--archive", "s3://"+bucket+"/kvs", "--s3-endpoint", s3srv.Endpoint, "--s3-region", s3srv.Region,
			"--s3-access-key", s3srv.AccessKeyID, "--s3-secret-key", s3srv.SecretAccessKey)
	}
	srv := node()
	kvs := kinesisvideo.NewFromConfig(aws.Config{
		Region: testRegion, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
	})
	if _, err := kvs.CreateStream(context.Background(), &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("crash"), DataRetentionInHours: aws.Int32(1),
	}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}

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
	for len(persisted) < 20 {
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

	// The producer moves to another node; its numbers go on above.
	srv = node()
	s2 := startPutMedia(t, nil, srv.URL, putOptions{name: "crash"})
	resume := newSynth(t, 1)
	resume.cluster(t, 1_000_000, 4, 1000)
	_ = s2.write(resume.take())
	s2.close()
	expectEvents(t, s2.rest(), "BUFFERING", "RECEIVED", "PERSISTED")
	srv.Stop(t)

	b, err := s3blob.New(t.Context(), s3blob.Config{Bucket: bucket, Prefix: "kvs", Endpoint: s3srv.Endpoint, Region: s3srv.Region,
		AccessKeyID: s3srv.AccessKeyID, SecretAccessKey: s3srv.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := objarchive.Open(t.Context(), objarchive.Config{URL: dsn, Bucket: b, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	stored := map[string]*archive.Fragment{}
	var last archive.Number
	for n := (archive.Number{}); ; {
		f, _, err := arch.Next("crash", n)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			break
		}
		if !last.Less(f.Number) {
			t.Fatalf("fragment numbers out of order: %s after %s", f.Number, last)
		}
		stored[f.Number.String()] = f
		n, last = f.Number, f.Number
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
		t.Errorf("%d fragments stored, want at least %d persisted + 1 from the second node", len(stored), len(persisted))
	}
	t.Logf("%d fragments PERSISTED before the kill, %d stored", len(persisted), len(stored))
}
