package fsblob

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openkvs/openkvs/internal/blob"
	"github.com/openkvs/openkvs/internal/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Bucket {
		b, err := New(Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestPutLeavesNoTemporaryFile checks that a failed Put (short body) and a
// successful one leave nothing in the temporary directory.
func TestPutLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_ = blob.PutBytes(t.Context(), b, "ok", []byte("data"))
	_ = b.Put(t.Context(), "short", shortReader{}, 10)
	left, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

type shortReader struct{}

func (shortReader) Read(p []byte) (int, error) { return 0, os.ErrClosed }
