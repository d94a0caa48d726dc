package ingest_test

import (
	"testing"

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
	createKillStream(t, srv.URL, "crash")
	run := ingestUntilKill(t, srv, "crash", 20)

	// The producer moves to another node; its numbers go on above.
	srv = node()
	run.resume(t, srv.URL)
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
	run.check(t, stored, func(f *archive.Fragment) ([]byte, error) { return arch.ReadCluster("crash", f) })
}
