package ingest_test

import (
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestPutMediaStreamNames checks that every stream name KVS accepts
// ([a-zA-Z0-9_.-]{1,256}) can be stored, including the ones that are
// awkward as directory names: each stream is created with the real SDK,
// gets a fragment by PutMedia (PERSISTED), and reads back from the data
// dir after the server stopped.
func TestPutMediaStreamNames(t *testing.T) {
	names := []string{
		".", "..", "-", "a..b",
		strings.Repeat("n", 256),
		"." + strings.Repeat("d", 255),
		strings.Repeat(".", 256),
	}
	srv := testserver.Start(t, testserver.Options{})
	for i, name := range names {
		ep := serverEndpoint(t, srv, name, 1)
		s := startPutMedia(t, srv.HTTPClient(), ep, putOptions{name: name, key: serverKey})
		if s.status != 200 {
			t.Fatalf("stream %d: status %d: %s", i, s.status, s.errMsg)
		}
		sendAll(t, s, clusters(t, 1, uint64(1000*(i+1))), 1<<20)
		if acks := s.rest(); len(acks) != 3 || acks[2].EventType != "PERSISTED" {
			t.Fatalf("stream %d (%d bytes): acks\n%s", i, len(name), rawAcks(acks))
		}
	}
	srv.Stop(t)

	arch, err := archive.Open(archive.Config{Dir: srv.DataDir, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	for i, name := range names {
		frags := storedFragments(t, arch, name)
		if len(frags) != 1 {
			t.Fatalf("stream %d: %d fragments after restart, want 1", i, len(frags))
		}
		if c, _ := decodeStored(t, arch, name, frags[0]); c.Timecode != uint64(1000*(i+1)) || len(c.Frames) != 5 {
			t.Errorf("stream %d: fragment at %d with %d frames", i, c.Timecode, len(c.Frames))
		}
	}
}
