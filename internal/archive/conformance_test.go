package archive_test

import (
	"testing"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
)

// TestBehaviour runs the archive behaviour suite, which the cluster
// archive (internal/objarchive) runs too, against the embedded archive.
func TestBehaviour(t *testing.T) {
	archivetest.Run(t, func(t *testing.T, o archivetest.Options) archivetest.Archive {
		a, err := archive.Open(archive.Config{Dir: t.TempDir(), Now: o.Now, Retention: o.Retention, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	})
}
