// Package boltstore is the embedded catalog.Store: streams and channels kept
// as JSON in a single bbolt file under the data directory.
//
// Why bbolt rather than SQLite: bbolt is pure Go, so openkvs stays one static
// binary with no cgo toolchain and cross-compiles anywhere; the whole catalog
// is one file that is easy to back up; every read-write transaction is ACID
// and fsyncs the file before Commit returns, so a record written survives
// kill -9 and power loss; bbolt allows a single writer at a time, which fits
// a metadata write volume of a few operations per second (streams and
// channels change rarely); and readers work on MVCC snapshots, so they never
// block or wait for the writer. What SQLite would add (SQL, secondary
// indexes, many writers) the catalog does not need: every lookup is by name
// and every listing is a name-ordered range scan, which a B+tree keyed by
// name serves directly. Deployments that need several openkvs nodes sharing
// one catalog use a networked Store (PostgreSQL) instead.
//
// Layout: bucket "streams" maps a stream name to its catalog.Stream as JSON,
// bucket "channels" a channel name to its catalog.Channel, and bucket "meta"
// holds "version", the layout version (currently "1"), so that a later
// openkvs can migrate the file and an older one refuses to open a newer file.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/openkvs/openkvs/internal/catalog"
)

// Errors Open returns (wrapped); test with errors.Is.
var (
	// ErrNoPath: Config.Path is empty.
	ErrNoPath = errors.New("boltstore: no database path")
	// ErrLocked: another process holds the database file open.
	ErrLocked = errors.New("boltstore: database file is in use by another process")
	// ErrVersion: the file was written by a newer openkvs, or is not a
	// catalog.
	ErrVersion = errors.New("boltstore: unsupported catalog layout version")
)

// layoutVersion is the version of the bucket layout and record encoding
// this package writes.
const layoutVersion = "1"

var (
	bucketStreams  = []byte("streams")
	bucketChannels = []byte("channels")
	bucketMeta     = []byte("meta")
	keyVersion     = []byte("version")
)

// Config configures Open.
type Config struct {
	// Path is the database file. It and its directory are created (modes
	// 0600 and 0700) when missing. Required.
	Path string
	// Timeout bounds the wait for the exclusive file lock when another
	// process has the file open; Open then fails with ErrLocked. Defaults
	// to 5 seconds.
	Timeout time.Duration
	// Logger receives open and close messages. Defaults to discarding them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Path == "" {
		return ErrNoPath
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Store is a catalog.Store in a bbolt file. It is safe for concurrent use;
// only one process can have the file open at a time.
type Store struct {
	db       *bolt.DB
	path     string
	log      *slog.Logger
	closed   atomic.Bool
	streams  kind[catalog.Stream]
	channels kind[catalog.Channel]
}

var _ catalog.Store = (*Store)(nil)

// Open opens the catalog at cfg.Path, creating it if it does not exist.
func Open(cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	// NoSync stays false: every commit fsyncs before it returns, which is
	// what makes an acknowledged write survive a crash.
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: cfg.Timeout, NoSync: false})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %v)", cfg.Path, ErrLocked, cfg.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	s := &Store{
		db:   db,
		path: cfg.Path,
		log:  cfg.Logger,
		streams: kind[catalog.Stream]{
			bucket: bucketStreams,
			noun:   "stream",
			name:   func(r *catalog.Stream) string { return r.Name },
			utc:    func(r *catalog.Stream) { r.CreationTime = r.CreationTime.UTC() },
		},
		channels: kind[catalog.Channel]{
			bucket: bucketChannels,
			noun:   "channel",
			name:   func(r *catalog.Channel) string { return r.Name },
			utc:    func(r *catalog.Channel) { r.CreationTime = r.CreationTime.UTC() },
		},
	}
	var nStreams, nChannels int
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initLayout(tx); err != nil {
			return err
		}
		nStreams, nChannels = countKeys(tx.Bucket(bucketStreams)), countKeys(tx.Bucket(bucketChannels))
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	s.log.Info("catalog opened", "path", cfg.Path, "streams", nStreams, "channels", nChannels)
	return s, nil
}

// initLayout creates the buckets of a new file and checks the layout
// version of an existing one.
func initLayout(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if tx.Bucket(bucketStreams) != nil || tx.Bucket(bucketChannels) != nil {
			return fmt.Errorf("%w: no layout version recorded", ErrVersion)
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte(layoutVersion)); err != nil {
			return err
		}
	}
	if v := meta.Get(keyVersion); string(v) != layoutVersion {
		return fmt.Errorf("%w: file has %q, this openkvs reads %q", ErrVersion, v, layoutVersion)
	}
	for _, b := range [][]byte{bucketStreams, bucketChannels} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// Close closes the file. Later calls fail with catalog.ErrClosed; closing
// again returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	s.log.Info("catalog closed", "path", s.path)
	return nil
}

// view runs f in a read-only transaction, after checking ctx and that s is
// open.
func (s *Store) view(ctx context.Context, f func(*bolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return closedErr(s.db.View(f))
}

// update runs f in a read-write transaction, after checking ctx and that s
// is open. The transaction commits (and fsyncs) if f returns nil.
func (s *Store) update(ctx context.Context, f func(*bolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return closedErr(s.db.Update(f))
}

func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return catalog.ErrClosed
	}
	return nil
}

// closedErr turns bbolt's error for a closed database, which a call racing
// with Close can see, into catalog.ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return catalog.ErrClosed
	}
	return err
}

// kind describes how one record type is stored.
type kind[T any] struct {
	bucket []byte
	noun   string
	name   func(*T) string
	utc    func(*T) // converts the record's times to UTC
}

func (k kind[T]) encode(rec *T) ([]byte, error) {
	c := *rec // shallow copy, so the caller's record keeps its time zone
	k.utc(&c)
	return json.Marshal(&c)
}

// decode parses a stored record. data may be memory owned by a bbolt
// transaction: json.Unmarshal copies everything it keeps.
func (k kind[T]) decode(name, data []byte) (*T, error) {
	rec := new(T)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("boltstore: %s %q: corrupt record: %w", k.noun, name, err)
	}
	k.utc(rec)
	return rec, nil
}

func create[T any](ctx context.Context, s *Store, k kind[T], rec *T) error {
	name := k.name(rec)
	if name == "" {
		return fmt.Errorf("boltstore: create %s: empty name", k.noun)
	}
	data, err := k.encode(rec)
	if err != nil {
		return fmt.Errorf("boltstore: create %s %q: %w", k.noun, name, err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(k.bucket)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("boltstore: create %s %q: %w", k.noun, name, catalog.ErrExists)
		}
		return b.Put([]byte(name), data)
	})
}

func get[T any](ctx context.Context, s *Store, k kind[T], name string) (rec *T, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		data := tx.Bucket(k.bucket).Get([]byte(name))
		if data == nil {
			return fmt.Errorf("boltstore: get %s %q: %w", k.noun, name, catalog.ErrNotFound)
		}
		rec, err = k.decode([]byte(name), data)
		return err
	})
	return rec, err
}

func update[T any](ctx context.Context, s *Store, k kind[T], name string, fn func(*T) error) (*T, error) {
	var data []byte
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(k.bucket)
		old := b.Get([]byte(name))
		if old == nil {
			return fmt.Errorf("boltstore: update %s %q: %w", k.noun, name, catalog.ErrNotFound)
		}
		rec, err := k.decode([]byte(name), old)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err // returned as is, so callers can match their own errors
		}
		if got := k.name(rec); got != name {
			return fmt.Errorf("boltstore: update %s %q: the update renamed it to %q", k.noun, name, got)
		}
		if data, err = k.encode(rec); err != nil {
			return fmt.Errorf("boltstore: update %s %q: %w", k.noun, name, err)
		}
		return b.Put([]byte(name), data)
	})
	if err != nil {
		return nil, err
	}
	// Decode what was stored rather than return fn's record, which fn may
	// still hold.
	return k.decode([]byte(name), data)
}

func remove[T any](ctx context.Context, s *Store, k kind[T], name string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(k.bucket)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("boltstore: delete %s %q: %w", k.noun, name, catalog.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

func list[T any](ctx context.Context, s *Store, k kind[T], opt catalog.ListOptions) (recs []*T, err error) {
	prefix, after := []byte(opt.Prefix), []byte(opt.After)
	err = s.view(ctx, func(tx *bolt.Tx) error {
		// Keys are sorted byte-wise, so the page is one range scan that
		// starts at the later of Prefix and just after After.
		c := tx.Bucket(k.bucket).Cursor()
		var key, data []byte
		if bytes.Compare(after, prefix) >= 0 {
			key, data = c.Seek(after)
			if bytes.Equal(key, after) {
				key, data = c.Next()
			}
		} else {
			key, data = c.Seek(prefix)
		}
		for ; key != nil && bytes.HasPrefix(key, prefix); key, data = c.Next() {
			if opt.Limit > 0 && len(recs) == opt.Limit {
				break
			}
			rec, err := k.decode(key, data)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		return nil
	})
	return recs, err
}

func count[T any](ctx context.Context, s *Store, k kind[T]) (n int, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		n = countKeys(tx.Bucket(k.bucket))
		return nil
	})
	return n, err
}

// CreateStream implements catalog.Store.
func (s *Store) CreateStream(ctx context.Context, st *catalog.Stream) error {
	if err := catalog.CheckName(st.Name); err != nil {
		return err
	}
	return create(ctx, s, s.streams, st)
}

// GetStream implements catalog.Store.
func (s *Store) GetStream(ctx context.Context, name string) (*catalog.Stream, error) {
	return get(ctx, s, s.streams, name)
}

// UpdateStream implements catalog.Store. fn runs inside the read-write
// transaction, which holds the database's single writer lock: it must be
// quick and must not call the store.
func (s *Store) UpdateStream(ctx context.Context, name string, fn func(*catalog.Stream) error) (*catalog.Stream, error) {
	return update(ctx, s, s.streams, name, fn)
}

// DeleteStream implements catalog.Store.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	return remove(ctx, s, s.streams, name)
}

// ListStreams implements catalog.Store.
func (s *Store) ListStreams(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Stream, error) {
	return list(ctx, s, s.streams, opt)
}

// CountStreams implements catalog.Store. It walks the keys, so it costs
// time in proportion to the number of streams.
func (s *Store) CountStreams(ctx context.Context) (int, error) {
	return count(ctx, s, s.streams)
}

// CreateChannel implements catalog.Store.
func (s *Store) CreateChannel(ctx context.Context, c *catalog.Channel) error {
	if err := catalog.CheckName(c.Name); err != nil {
		return err
	}
	return create(ctx, s, s.channels, c)
}

// GetChannel implements catalog.Store.
func (s *Store) GetChannel(ctx context.Context, name string) (*catalog.Channel, error) {
	return get(ctx, s, s.channels, name)
}

// UpdateChannel implements catalog.Store, with the same rules for fn as
// UpdateStream.
func (s *Store) UpdateChannel(ctx context.Context, name string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
	return update(ctx, s, s.channels, name, fn)
}

// DeleteChannel implements catalog.Store.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return remove(ctx, s, s.channels, name)
}

// ListChannels implements catalog.Store.
func (s *Store) ListChannels(ctx context.Context, opt catalog.ListOptions) ([]*catalog.Channel, error) {
	return list(ctx, s, s.channels, opt)
}

// CountChannels implements catalog.Store. It walks the keys, so it costs
// time in proportion to the number of channels.
func (s *Store) CountChannels(ctx context.Context) (int, error) {
	return count(ctx, s, s.channels)
}
