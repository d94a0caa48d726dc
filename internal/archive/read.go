package archive

import (
	"fmt"
	"sort"
	"time"
)

// TimeKind selects which timestamp a time query uses.
type TimeKind int

const (
	// ServerTime is the ingest time (encoded in the fragment number).
	ServerTime TimeKind = iota
	// ProducerTime is the producer's timestamp of the Cluster.
	ProducerTime
)

func (k TimeKind) of(f *Fragment) time.Time {
	if k == ProducerTime {
		return f.ProducerTime
	}
	return f.ServerTime()
}

// after returns the first fragment of list (ordered by number) whose number
// is greater than n, or nil.
func after(list []*Fragment, n Number) *Fragment {
	i := sort.Search(len(list), func(i int) bool { return n.Less(list[i].Number) })
	if i == len(list) {
		return nil
	}
	return list[i]
}

// Next returns the first fragment of stream whose number is greater than
// after, durable or only received, so that a reader can follow a stream
// from the archive into the live edge. When there is none yet, it returns
// a nil fragment and a channel that is closed when the next fragment
// arrives (or the stream is deleted).
func (a *Archive) Next(stream string, n Number) (*Fragment, <-chan struct{}, error) {
	st, err := a.stream(stream, true)
	if err != nil {
		return nil, nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	d, l := after(st.index, n), after(st.ring, n)
	switch {
	case d == nil && l == nil:
		return nil, st.notify, nil
	case d == nil:
		return l, nil, nil
	case l == nil || d.Number.Less(l.Number):
		return d, nil, nil
	default:
		return l, nil, nil
	}
}

// Latest returns the newest received fragment of stream, or nil.
func (a *Archive) Latest(stream string) (*Fragment, error) {
	st, err := a.stream(stream, false)
	if err != nil || st == nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var f *Fragment
	if n := len(st.index); n > 0 {
		f = st.index[n-1]
	}
	if n := len(st.ring); n > 0 && (f == nil || f.Number.Less(st.ring[n-1].Number)) {
		f = st.ring[n-1]
	}
	return f, nil
}

// Get returns fragment n of stream, durable or in the live buffer.
func (a *Archive) Get(stream string, n Number) (*Fragment, error) {
	st, err := a.stream(stream, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNotFound
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, list := range [][]*Fragment{st.index, st.ring} {
		i := sort.Search(len(list), func(i int) bool { return !list[i].Number.Less(n) })
		if i < len(list) && list[i].Number == n {
			return list[i], nil
		}
	}
	return nil, ErrNotFound
}

// Seek returns the fragment that contains time t (by kind), or else the
// first one that starts after t, or nil if there is none yet. Durable
// fragments are searched first, then the live buffer.
func (a *Archive) Seek(stream string, kind TimeKind, t time.Time) (*Fragment, error) {
	st, err := a.stream(stream, false)
	if err != nil || st == nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := seek(st.index, kind, t, kind == ServerTime || st.prodSorted); f != nil {
		return f, nil
	}
	return seek(st.ring, kind, t, kind == ServerTime), nil
}

func seek(list []*Fragment, kind TimeKind, t time.Time, sorted bool) *Fragment {
	contains := func(f *Fragment) bool {
		s := kind.of(f)
		return !t.Before(s) && t.Before(s.Add(max(f.Duration, time.Millisecond)))
	}
	if sorted {
		i := sort.Search(len(list), func(i int) bool { return t.Before(kind.of(list[i])) })
		if i > 0 && contains(list[i-1]) {
			return list[i-1]
		}
		if i < len(list) {
			return list[i]
		}
		return nil
	}
	var next *Fragment
	for _, f := range list {
		if contains(f) {
			return f
		}
		if t.Before(kind.of(f)) && (next == nil || kind.of(f).Before(kind.of(next))) {
			next = f
		}
	}
	return next
}

// List returns up to limit durable fragments of stream whose start time (by
// kind) is within [start, end] and whose number is greater than after, in
// number order, and whether more follow.
func (a *Archive) List(stream string, kind TimeKind, start, end time.Time, n Number, limit int) ([]*Fragment, bool, error) {
	st, err := a.stream(stream, false)
	if err != nil || st == nil {
		return nil, false, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	i := sort.Search(len(st.index), func(i int) bool { return n.Less(st.index[i].Number) })
	if kind == ServerTime {
		j := sort.Search(len(st.index), func(j int) bool { return !st.index[j].ServerTime().Before(start) })
		i = max(i, j)
	}
	var out []*Fragment
	for ; i < len(st.index); i++ {
		f := st.index[i]
		ts := kind.of(f)
		if ts.After(end) {
			if kind == ServerTime {
				break
			}
			continue
		}
		if ts.Before(start) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, f)
	}
	return out, false, nil
}

// ReadCluster returns the Cluster bytes of f (a fragment returned by this
// archive): from memory for live fragments, else from its segment file. It
// returns ErrNotFound if the fragment expired or was deleted meanwhile.
// A recent durable fragment read from disk is kept in the live buffer
// (within its bounds), so that the many viewers of a live stream's newest
// fragments do not each read it from disk.
func (a *Archive) ReadCluster(stream string, f *Fragment) ([]byte, error) {
	if f.cluster != nil {
		return f.cluster, nil
	}
	st, err := a.stream(stream, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNotFound
	}
	seg := f.seg
	st.mu.Lock()
	if seg == nil || seg.removed || st.deleted {
		st.mu.Unlock()
		return nil, ErrNotFound
	}
	if c := st.liveCopy(f.Number); c != nil {
		st.mu.Unlock()
		return c, nil
	}
	seg.refs++
	st.mu.Unlock()
	buf := make([]byte, f.Size)
	_, err = seg.f.ReadAt(buf, f.off)
	st.mu.Lock()
	seg.refs--
	if seg.removed && seg.refs == 0 {
		seg.f.Close()
	}
	cache := err == nil && !seg.removed && !st.deleted && st.recent(f.Number) && st.liveCopy(f.Number) == nil
	if cache {
		c := *f
		c.cluster, c.seg, c.state = buf, nil, liveCached
		st.addLive(&c, a.cfg.LiveFragments, a.cfg.LiveBytes)
	}
	st.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("archive: read fragment %s: %w", f.Number, err)
	}
	if cache {
		a.trimLive()
	}
	return buf, nil
}

// liveCopy returns the in-memory Cluster of fragment n, or nil. Callers
// hold mu.
func (st *stream) liveCopy(n Number) []byte {
	i := sort.Search(len(st.ring), func(i int) bool { return !st.ring[i].Number.Less(n) })
	if i < len(st.ring) && st.ring[i].Number == n {
		return st.ring[i].cluster
	}
	return nil
}

// recent reports whether durable fragment n is among the stream's newest
// LiveFragments, the ones live readers ask for. Callers hold mu.
func (st *stream) recent(n Number) bool {
	i := sort.Search(len(st.index), func(i int) bool { return !st.index[i].Number.Less(n) })
	return i < len(st.index) && len(st.index)-i <= st.a.cfg.LiveFragments
}
