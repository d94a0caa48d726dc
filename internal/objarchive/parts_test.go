package objarchive

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
)

// TestUploadDoesNotCopyBatch: a batch is written from the live buffer's
// bytes, without a second copy of the whole batch.
func TestUploadDoesNotCopyBatch(t *testing.T) {
	const fragments, size = 4, 2 << 20
	url := pgtest.Start(t)
	a := env{url: url, schema: pgtest.NewSchema(t, url), bucket: discard{}}.open(t, archivetest.Options{})
	var batch []*pending
	for range fragments {
		f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Size: size, Header: archivetest.Header}
		batch = append(batch, &pending{l: &live{f: f, cluster: make([]byte, size)}})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := a.upload("cam", batch); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > fragments*size/2 {
		t.Errorf("upload of %d bytes allocated %d bytes, want no copy of the batch", fragments*size, got)
	}
}

func TestPartsReader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts [][]byte
	}{
		{"one", [][]byte{[]byte("hello")}},
		{"several", [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}},
		{"empty parts between", [][]byte{{}, []byte("abc"), {}, []byte("defgh"), {}}},
		{"large", [][]byte{bytes.Repeat([]byte{1}, 70_000), bytes.Repeat([]byte{2}, 3), bytes.Repeat([]byte{3}, 40_000)}},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Join(tc.parts, nil)
			if err := iotest.TestReader(&partsReader{parts: tc.parts, size: int64(len(want))}, want); err != nil {
				t.Fatal(err)
			}
			// Read twice, as the S3 SDK does: once to sign, then again
			// from the start.
			r := &partsReader{parts: tc.parts, size: int64(len(want))}
			for range 2 {
				got, err := io.ReadAll(iotest.OneByteReader(r))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
				}
				if _, err := r.Seek(0, io.SeekStart); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
