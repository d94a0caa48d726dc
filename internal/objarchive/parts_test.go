package objarchive

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

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
