// Package fsblob is a blob.Bucket in a local directory: one file per
// object under Dir/objects, written to Dir/tmp first, fsynced, and renamed
// into place (then the directory is fsynced), so that an object is
// durable once Put returns and is never seen half-written.
//
// A key and a longer key below it ("a" and "a/b") cannot both exist, as a
// path cannot be a file and a directory at once; the second Put fails.
package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/openkvs/openkvs/internal/blob"
)

// Config configures New.
type Config struct {
	// Dir holds the objects; it is created when missing. Required.
	Dir string
}

// Bucket is a blob.Bucket in a directory. It is safe for concurrent use,
// also by several processes sharing the directory.
type Bucket struct {
	objects string
	tmp     string
}

var _ blob.Bucket = (*Bucket)(nil)

// New opens (creating if needed) the bucket in cfg.Dir.
func New(cfg Config) (*Bucket, error) {
	if cfg.Dir == "" {
		return nil, errors.New("fsblob: Config.Dir is required")
	}
	b := &Bucket{objects: filepath.Join(cfg.Dir, "objects"), tmp: filepath.Join(cfg.Dir, "tmp")}
	for _, d := range []string{b.objects, b.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("fsblob: %w", err)
		}
	}
	return b, nil
}

func (b *Bucket) path(key string) (string, error) {
	if err := blob.CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.objects, filepath.FromSlash(key)), nil
}

// Put implements blob.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(b.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("fsblob: put %s: got %d bytes, want %d", key, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	// A Delete removing emptied directories may race with this Put, between
	// MkdirAll's steps or before the rename: both then fail with
	// ErrNotExist, and creating the directories again and retrying fixes it.
	for try := 0; ; try++ {
		err := os.MkdirAll(dir, 0o700)
		if err == nil {
			err = os.Rename(tmp, p)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || try == 8 {
			return fmt.Errorf("fsblob: put %s: %w", key, err)
		}
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func notFound(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: %s: %w", key, blob.ErrNotFound)
	}
	return fmt.Errorf("fsblob: %s: %w", key, err)
}

// Get implements blob.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, notFound(key, err)
	}
	return data, nil
}

// GetRange implements blob.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("fsblob: %s: bad range %d+%d", key, off, n)
	}
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, notFound(key, err)
	}
	if off >= fi.Size() {
		return nil, fmt.Errorf("fsblob: %s: range from %d beyond its %d bytes: %w", key, off, fi.Size(), blob.ErrNotFound)
	}
	buf := make([]byte, min(n, fi.Size()-off))
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("fsblob: %s: %w", key, err)
	}
	return buf, nil
}

// List implements blob.Bucket.
func (b *Bucket) List(ctx context.Context, prefix string) ([]blob.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Walk only the directory the prefix's complete segments name.
	start := b.objects
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		dir := prefix[:i]
		if blob.CheckKey(dir) != nil {
			return nil, nil // no valid key has this prefix
		}
		start = filepath.Join(b.objects, filepath.FromSlash(dir))
	}
	var out []blob.Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(b.objects, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, blob.Object{Key: key, Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsblob: list %q: %w", prefix, err)
	}
	// WalkDir orders each directory's entries, not whole keys ("a/b"
	// before "a.c"); sort by key.
	slices.SortFunc(out, func(x, y blob.Object) int { return strings.Compare(x.Key, y.Key) })
	return out, nil
}

// Delete implements blob.Bucket. Directories left empty are removed (up to
// the bucket's root), so that deleted streams leave nothing behind.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %s: %w", key, err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if os.Remove(filepath.Join(b.objects, filepath.FromSlash(dir))) != nil {
			break // not empty (or gone)
		}
	}
	return nil
}
