// Package blob is the contract of the object stores that hold fragment data
// in cluster mode: a flat namespace of immutable objects addressed by
// slash-separated keys, as S3 and its compatibles offer it.
//
// Implementations: fsblob (files in a local directory, for the embedded
// mode and tests) and s3blob (any S3-compatible service). The conformance
// suite in blobtest runs against both.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned (wrapped) for a key that does not exist, or for a
// range that starts beyond an object's end. Test with IsNotFound.
var ErrNotFound = errors.New("blob: object not found")

// ErrBadKey is returned (wrapped) for a key that is not valid (see CheckKey).
var ErrBadKey = errors.New("blob: invalid key")

// IsNotFound reports whether err says that an object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Object describes one stored object.
type Object struct {
	// Key is the object's key, relative to the bucket (and its prefix).
	Key string
	// Size is the object's length in bytes.
	Size int64
}

// Bucket is a store of immutable objects. Implementations are safe for
// concurrent use. A Put that returned nil is durable: the object survives a
// crash of this process and of the machine (as far as the store promises
// that), and every later Get — from any process sharing the store — sees it.
type Bucket interface {
	// Put stores size bytes read from r under key, replacing an object
	// that may exist. The object becomes visible whole or not at all.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns the whole object.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange returns n bytes of the object from offset off; fewer when
	// the object ends first. An offset at or beyond the end is
	// ErrNotFound.
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes the object; deleting a missing object is not an
	// error.
	Delete(ctx context.Context, key string) error
}

// PutBytes stores data under key.
func PutBytes(ctx context.Context, b Bucket, key string, data []byte) error {
	return b.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// CheckKey returns an ErrBadKey error unless key is 1–900 bytes of
// slash-separated segments, none empty, "." or "..", without NUL or
// backslash, so that every implementation can map it to a path.
func CheckKey(key string) error {
	if key == "" || len(key) > 900 {
		return fmt.Errorf("%w: length %d, want 1 to 900 bytes", ErrBadKey, len(key))
	}
	if strings.ContainsAny(key, "\x00\\") {
		return fmt.Errorf("%w: %q holds a NUL or backslash", ErrBadKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrBadKey, key)
		}
	}
	return nil
}
