// Package blobtest is the conformance suite of blob.Bucket: every
// implementation runs it (fsblob on a temporary directory, s3blob on a real
// SeaweedFS server).
package blobtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openkvs/openkvs/internal/blob"
)

// Run runs the suite; open returns an empty bucket for each subtest.
func Run(t *testing.T, open func(t *testing.T) blob.Bucket) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, open(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, open(t)) })
	t.Run("Streaming", func(t *testing.T) { testStreaming(t, open(t)) })
	t.Run("GetRange", func(t *testing.T) { testGetRange(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("List", func(t *testing.T) { testList(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t)) })
	t.Run("BadKeys", func(t *testing.T) { testBadKeys(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
}

// payload returns n deterministic bytes that differ per seed.
func payload(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed*7 + i>>8)
	}
	return b
}

func put(t *testing.T, b blob.Bucket, key string, data []byte) {
	t.Helper()
	if err := blob.PutBytes(t.Context(), b, key, data); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, b blob.Bucket, key string, want []byte) {
	t.Helper()
	got, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: %d bytes differ from the %d put", key, len(got), len(want))
	}
}

func testPutGet(t *testing.T, b blob.Bucket) {
	for _, n := range []int{0, 1, 1000, 3 << 20} {
		key := fmt.Sprintf("stream/a/%d", n)
		data := payload(n, n)
		put(t, b, key, data)
		mustGet(t, b, key, data)
	}
}

func testReplace(t *testing.T, b blob.Bucket) {
	put(t, b, "k", payload(1, 100))
	put(t, b, "k", payload(2, 50))
	mustGet(t, b, "k", payload(2, 50))
}

// onlyReader hides every method but Read, so that Put gets a plain stream.
type onlyReader struct{ io.Reader }

func testStreaming(t *testing.T, b blob.Bucket) {
	data := payload(3, 70000)
	if err := b.Put(t.Context(), "s/stream", onlyReader{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	mustGet(t, b, "s/stream", data)
	// A body shorter than its declared size is an error and leaves
	// nothing behind.
	if err := b.Put(t.Context(), "s/short", onlyReader{bytes.NewReader(data[:10])}, 20); err == nil {
		t.Fatal("Put of a body shorter than size succeeded")
	}
	if _, err := b.Get(t.Context(), "s/short"); !blob.IsNotFound(err) {
		t.Fatalf("Get after a failed Put: %v, want not found", err)
	}
}

func testGetRange(t *testing.T, b blob.Bucket) {
	data := payload(4, 10000)
	put(t, b, "r", data)
	tests := []struct {
		off, n int64
		want   []byte
	}{
		{0, 1, data[:1]},
		{0, 10000, data},
		{1234, 4000, data[1234:5234]},
		{9999, 1, data[9999:]},
		{9000, 5000, data[9000:]}, // ends early
	}
	for _, tc := range tests {
		got, err := b.GetRange(t.Context(), "r", tc.off, tc.n)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.n, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("GetRange(%d, %d): %d bytes, want %d", tc.off, tc.n, len(got), len(tc.want))
		}
	}
	if _, err := b.GetRange(t.Context(), "r", 10000, 1); !blob.IsNotFound(err) {
		t.Fatalf("GetRange beyond the end: %v, want not found", err)
	}
}

func testNotFound(t *testing.T, b blob.Bucket) {
	if _, err := b.Get(t.Context(), "absent/key"); !blob.IsNotFound(err) {
		t.Fatalf("Get of a missing key: %v, want not found", err)
	}
	if _, err := b.GetRange(t.Context(), "absent/key", 0, 10); !blob.IsNotFound(err) {
		t.Fatalf("GetRange of a missing key: %v, want not found", err)
	}
}

func keys(objs []blob.Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

func testList(t *testing.T, b blob.Bucket) {
	all := []string{"cam-1/0001", "cam-1/0002", "cam-1/sub/0003", "cam-10/0001", "cam-1.x/0001", "cam-2/0001", "top"}
	for i, k := range all {
		put(t, b, k, payload(i, i+1))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"cam-1.x/0001", "cam-1/0001", "cam-1/0002", "cam-1/sub/0003", "cam-10/0001", "cam-2/0001", "top"}},
		{"cam-1/", []string{"cam-1/0001", "cam-1/0002", "cam-1/sub/0003"}},
		{"cam-1", []string{"cam-1.x/0001", "cam-1/0001", "cam-1/0002", "cam-1/sub/0003", "cam-10/0001"}},
		{"cam-1/000", []string{"cam-1/0001", "cam-1/0002"}},
		{"cam-3/", nil},
		{"nothing", nil},
	}
	for _, tc := range tests {
		got, err := b.List(t.Context(), tc.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		if !slices.Equal(keys(got), tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, keys(got), tc.want)
		}
	}
	got, err := b.List(t.Context(), "cam-1/0002")
	if err != nil || len(got) != 1 || got[0].Size != 2 {
		t.Fatalf("List of one object: %+v, %v; want size 2", got, err)
	}
}

func testDelete(t *testing.T, b blob.Bucket) {
	put(t, b, "d/one", []byte("x"))
	put(t, b, "d/two", []byte("y"))
	if err := b.Delete(t.Context(), "d/one"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "d/one"); !blob.IsNotFound(err) {
		t.Fatalf("Get after Delete: %v, want not found", err)
	}
	if err := b.Delete(t.Context(), "d/one"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := b.Delete(t.Context(), "d/never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	mustGet(t, b, "d/two", []byte("y"))
	if err := b.Delete(t.Context(), "d/two"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.List(t.Context(), ""); err != nil || len(got) != 0 {
		t.Fatalf("List after deleting everything: %q, %v", keys(got), err)
	}
	// A key whose directory was emptied by Delete can be used again.
	put(t, b, "d/three", []byte("z"))
	mustGet(t, b, "d/three", []byte("z"))
}

func testBadKeys(t *testing.T, b blob.Bucket) {
	for _, k := range []string{"", "/abs", "a//b", "a/", "../up", "a/./b", "nul\x00", `back\slash`, strings.Repeat("k", 901)} {
		err := blob.PutBytes(t.Context(), b, k, []byte("x"))
		if !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Put(%q): %v, want ErrBadKey", k, err)
		}
		if _, err := b.Get(t.Context(), k); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Get(%q): %v, want ErrBadKey", k, err)
		}
	}
}

func testConcurrent(t *testing.T, b blob.Bucket) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("c/%02d/frag", i)
			if err := blob.PutBytes(t.Context(), b, key, payload(i, 5000+i)); err != nil {
				errs[i] = err
				return
			}
			got, err := b.Get(t.Context(), key)
			if err == nil && !bytes.Equal(got, payload(i, 5000+i)) {
				err = fmt.Errorf("%s: wrong bytes", key)
			}
			if err == nil {
				err = b.Delete(t.Context(), key)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
