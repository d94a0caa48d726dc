package ingest_test

import (
	"testing"

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
	createKillStream(t, srv.URL, "crash")
	run := ingestUntilKill(t, srv, "crash", 40)

	// Restart on the same dir; the producer resumes on a new connection.
	srv = testserver.StartProcess(t, bin, dir, "127.0.0.1:0", "--credentials", testAKID+":"+testSecret)
	run.resume(t, srv.URL)
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
	run.check(t, stored, func(f *archive.Fragment) ([]byte, error) { return arch.ReadCluster("crash", f) })
}
