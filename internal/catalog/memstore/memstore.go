// Package memstore is an in-memory catalog.Store: one map per record type
// behind a mutex. It keeps nothing across restarts; it exists for the tests
// of packages that need a Store.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/openkvs/openkvs/internal/catalog"
)

// Store is an in-memory catalog.Store. The zero value is not usable; call
// New.
type Store struct {
	mu       sync.RWMutex
	closed   bool
	streams  table[catalog.Stream]
	channels table[catalog.Channel]
}

var _ catalog.Store = (*Store)(nil)

// New returns an empty, open Store.
func New() *Store {
	return &Store{
		streams: table[catalog.Stream]{
			noun: "stream",
			recs: map[string]*catalog.Stream{},
			name: func(s *catalog.Stream) string { return s.Name },
			clone: func(s *catalog.Stream) *catalog.Stream {
				c := s.Clone()
				c.CreationTime = c.CreationTime.UTC()
				return c
			},
		},
		channels: table[catalog.Channel]{
			noun: "channel",
			recs: map[string]*catalog.Channel{},
			name: func(c *catalog.Channel) string { return c.Name },
			clone: func(c *catalog.Channel) *catalog.Channel {
				d := c.Clone()
				d.CreationTime = d.CreationTime.UTC()
				return d
			},
		},
	}
}

// read runs f under the read lock, after checking ctx and that s is open.
func (s *Store) read(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return catalog.ErrClosed
	}
	return f()
}

// write runs f under the write lock, after checking ctx and that s is open.
func (s *Store) write(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return catalog.ErrClosed
	}
	return f()
}

// CreateStream implements catalog.Store.
func (s *Store) CreateStream(ctx context.Context, st *catalog.Stream) error {
	if err := catalog.CheckName(st.Name); err != nil {
		return err
	}
	return s.write(ctx, func() error { return s.streams.create(st) })
}

// GetStream implements catalog.Store.
func (s *Store) GetStream(ctx context.Context, name string) (rec *catalog.Stream, err error) {
	err = s.read(ctx, func() error { rec, err = s.streams.get(name); return err })
	return rec, err
}

// UpdateStream implements catalog.Store. fn runs under the store's lock and
// must not call the store.
func (s *Store) UpdateStream(ctx context.Context, name string, fn func(*catalog.Stream) error) (rec *catalog.Stream, err error) {
	err = s.write(ctx, func() error { rec, err = s.streams.update(name, fn); return err })
	return rec, err
}

// DeleteStream implements catalog.Store.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	return s.write(ctx, func() error { return s.streams.delete(name) })
}

// ListStreams implements catalog.Store.
func (s *Store) ListStreams(ctx context.Context, opt catalog.ListOptions) (recs []*catalog.Stream, err error) {
	err = s.read(ctx, func() error { recs = s.streams.list(opt); return nil })
	return recs, err
}

// CountStreams implements catalog.Store.
func (s *Store) CountStreams(ctx context.Context) (n int, err error) {
	err = s.read(ctx, func() error { n = len(s.streams.recs); return nil })
	return n, err
}

// CreateChannel implements catalog.Store.
func (s *Store) CreateChannel(ctx context.Context, c *catalog.Channel) error {
	if err := catalog.CheckName(c.Name); err != nil {
		return err
	}
	return s.write(ctx, func() error { return s.channels.create(c) })
}

// GetChannel implements catalog.Store.
func (s *Store) GetChannel(ctx context.Context, name string) (rec *catalog.Channel, err error) {
	err = s.read(ctx, func() error { rec, err = s.channels.get(name); return err })
	return rec, err
}

// UpdateChannel implements catalog.Store. fn runs under the store's lock and
// must not call the store.
func (s *Store) UpdateChannel(ctx context.Context, name string, fn func(*catalog.Channel) error) (rec *catalog.Channel, err error) {
	err = s.write(ctx, func() error { rec, err = s.channels.update(name, fn); return err })
	return rec, err
}

// DeleteChannel implements catalog.Store.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return s.write(ctx, func() error { return s.channels.delete(name) })
}

// ListChannels implements catalog.Store.
func (s *Store) ListChannels(ctx context.Context, opt catalog.ListOptions) (recs []*catalog.Channel, err error) {
	err = s.read(ctx, func() error { recs = s.channels.list(opt); return nil })
	return recs, err
}

// CountChannels implements catalog.Store.
func (s *Store) CountChannels(ctx context.Context) (n int, err error) {
	err = s.read(ctx, func() error { n = len(s.channels.recs); return nil })
	return n, err
}

// Close drops every record. Later calls fail with catalog.ErrClosed; closing
// again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.streams.recs)
	clear(s.channels.recs)
	return nil
}

// table holds the records of one type. Its methods expect the store's lock
// to be held; every record going in or out is cloned.
type table[T any] struct {
	noun  string
	recs  map[string]*T
	name  func(*T) string
	clone func(*T) *T // deep copy with times in UTC
}

func (t *table[T]) create(rec *T) error {
	name := t.name(rec)
	if name == "" {
		return fmt.Errorf("memstore: create %s: empty name", t.noun)
	}
	if _, ok := t.recs[name]; ok {
		return fmt.Errorf("memstore: create %s %q: %w", t.noun, name, catalog.ErrExists)
	}
	t.recs[name] = t.clone(rec)
	return nil
}

func (t *table[T]) get(name string) (*T, error) {
	rec, ok := t.recs[name]
	if !ok {
		return nil, fmt.Errorf("memstore: get %s %q: %w", t.noun, name, catalog.ErrNotFound)
	}
	return t.clone(rec), nil
}

func (t *table[T]) update(name string, fn func(*T) error) (*T, error) {
	rec, ok := t.recs[name]
	if !ok {
		return nil, fmt.Errorf("memstore: update %s %q: %w", t.noun, name, catalog.ErrNotFound)
	}
	next := t.clone(rec)
	if err := fn(next); err != nil {
		return nil, err
	}
	if got := t.name(next); got != name {
		return nil, fmt.Errorf("memstore: update %s %q: the update renamed it to %q", t.noun, name, got)
	}
	t.recs[name] = t.clone(next)
	return t.clone(next), nil
}

func (t *table[T]) delete(name string) error {
	if _, ok := t.recs[name]; !ok {
		return fmt.Errorf("memstore: delete %s %q: %w", t.noun, name, catalog.ErrNotFound)
	}
	delete(t.recs, name)
	return nil
}

func (t *table[T]) list(opt catalog.ListOptions) []*T {
	var names []string
	for name := range t.recs {
		if strings.HasPrefix(name, opt.Prefix) && name > opt.After {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if opt.Limit > 0 && len(names) > opt.Limit {
		names = names[:opt.Limit]
	}
	recs := make([]*T, len(names))
	for i, name := range names {
		recs[i] = t.clone(t.recs[name])
	}
	return recs
}
