package controlplane

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/openkvs/openkvs/internal/catalog"
)

// fakeStore is a map-based catalog.Store for these tests, until the shared
// in-memory store lands. Records are copied in and out, as a real store
// serializes them.
type fakeStore struct {
	mu       sync.Mutex
	streams  map[string]*catalog.Stream
	channels map[string]*catalog.Channel
}

func newFakeStore() *fakeStore {
	return &fakeStore{streams: map[string]*catalog.Stream{}, channels: map[string]*catalog.Channel{}}
}

func cloneStream(s *catalog.Stream) *catalog.Stream {
	c := *s
	c.Tags = maps.Clone(s.Tags)
	c.ImageGeneration = bytes.Clone(s.ImageGeneration)
	c.Notification = bytes.Clone(s.Notification)
	c.Edge = bytes.Clone(s.Edge)
	return &c
}

func cloneChannel(ch *catalog.Channel) *catalog.Channel {
	c := *ch
	c.Tags = maps.Clone(ch.Tags)
	c.MediaStorage = bytes.Clone(ch.MediaStorage)
	return &c
}

func page[T any](m map[string]T, opt catalog.ListOptions, clone func(T) T) []T {
	names := slices.Sorted(maps.Keys(m))
	var out []T
	for _, n := range names {
		if !strings.HasPrefix(n, opt.Prefix) || (opt.After != "" && n <= opt.After) {
			continue
		}
		if opt.Limit > 0 && len(out) == opt.Limit {
			break
		}
		out = append(out, clone(m[n]))
	}
	return out
}

func (f *fakeStore) CreateStream(_ context.Context, s *catalog.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.streams[s.Name]; ok {
		return catalog.ErrExists
	}
	f.streams[s.Name] = cloneStream(s)
	return nil
}

func (f *fakeStore) GetStream(_ context.Context, name string) (*catalog.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.streams[name]
	if !ok {
		return nil, catalog.ErrNotFound
	}
	return cloneStream(s), nil
}

func (f *fakeStore) UpdateStream(_ context.Context, name string, fn func(*catalog.Stream) error) (*catalog.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.streams[name]
	if !ok {
		return nil, catalog.ErrNotFound
	}
	c := cloneStream(s)
	if err := fn(c); err != nil {
		return nil, err
	}
	f.streams[name] = cloneStream(c)
	return c, nil
}

func (f *fakeStore) DeleteStream(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.streams[name]; !ok {
		return catalog.ErrNotFound
	}
	delete(f.streams, name)
	return nil
}

func (f *fakeStore) ListStreams(_ context.Context, opt catalog.ListOptions) ([]*catalog.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return page(f.streams, opt, cloneStream), nil
}

func (f *fakeStore) CountStreams(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams), nil
}

func (f *fakeStore) CreateChannel(_ context.Context, c *catalog.Channel) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.channels[c.Name]; ok {
		return catalog.ErrExists
	}
	f.channels[c.Name] = cloneChannel(c)
	return nil
}

func (f *fakeStore) GetChannel(_ context.Context, name string) (*catalog.Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[name]
	if !ok {
		return nil, catalog.ErrNotFound
	}
	return cloneChannel(c), nil
}

func (f *fakeStore) UpdateChannel(_ context.Context, name string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[name]
	if !ok {
		return nil, catalog.ErrNotFound
	}
	cc := cloneChannel(c)
	if err := fn(cc); err != nil {
		return nil, err
	}
	f.channels[name] = cloneChannel(cc)
	return cc, nil
}

func (f *fakeStore) DeleteChannel(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.channels[name]; !ok {
		return catalog.ErrNotFound
	}
	delete(f.channels, name)
	return nil
}

func (f *fakeStore) ListChannels(_ context.Context, opt catalog.ListOptions) ([]*catalog.Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return page(f.channels, opt, cloneChannel), nil
}

func (f *fakeStore) CountChannels(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.channels), nil
}

func (f *fakeStore) Close() error { return nil }
