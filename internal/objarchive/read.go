package objarchive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/blob"
)

// queryTimeout bounds one index query of a reader.
const queryTimeout = 10 * time.Second

func (a *Archive) query(stream, where string, args ...any) ([]*archive.Fragment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	rows, err := a.idx.pool.Query(ctx, `SELECT `+scanCols+` FROM `+a.idx.fragments+` WHERE stream = $1 AND `+where,
		append([]any{stream}, args...)...)
	if err != nil {
		return nil, a.fail(fmt.Errorf("objarchive: query %s: %w", stream, err))
	}
	return a.scan(rows)
}

// fail turns the error of a call that raced with Close into
// archive.ErrClosed.
func (a *Archive) fail(err error) error {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return fmt.Errorf("%w (%w)", archive.ErrClosed, err)
	}
	return err
}

func first(fs []*archive.Fragment) *archive.Fragment {
	if len(fs) == 0 {
		return nil
	}
	return fs[0]
}

// ringAfter returns the first fragment of this node's buffer after n that
// is not durable (durable ones are read from the index), or nil. A
// fragment heard from another node is returned only to a reader that has
// read the one before it (its prev), or once gapWait passed without prev
// showing up, so that a lost bus message never makes a reader skip a
// fragment still on its way to the index. Callers hold st.mu.
func (st *stream) ringAfter(n archive.Number, now time.Time) *archive.Fragment {
	for _, l := range st.ring {
		if l.durable || !n.Less(l.f.Number) {
			continue
		}
		if l.remote && n.Less(l.prev) && now.Sub(l.at) < gapWait {
			return nil
		}
		return l.f
	}
	return nil
}

// gapWait is how long a reader waits for a fragment it missed on the bus
// to reach the index before going on without it (for a stream without
// retention it never will).
const gapWait = 2 * time.Second

// earlier returns the one of x and y with the smaller number (either may
// be nil).
func earlier(x, y *archive.Fragment) *archive.Fragment {
	switch {
	case x == nil:
		return y
	case y == nil || x.Number.Less(y.Number):
		return x
	default:
		return y
	}
}

// Next returns the first fragment of stream whose number is greater than
// n: persisted by any node, or received by this one. When there is none
// yet, it returns a nil fragment and a channel that is closed when this
// node receives one, or after PollInterval (to look again for fragments
// other nodes persisted).
func (a *Archive) Next(stream string, n archive.Number) (*archive.Fragment, <-chan struct{}, error) {
	st, err := a.stream(stream, true)
	if err != nil {
		return nil, nil, err
	}
	a.follow(st)
	// The buffer first: a fragment that becomes durable meanwhile is then
	// found by the query.
	st.mu.Lock()
	l := st.ringAfter(n, a.cfg.Now())
	st.mu.Unlock()
	fs, err := a.query(stream, `(millis, seq) > ($2, $3) ORDER BY millis, seq LIMIT 1`, int64(n.Millis), int64(n.Seq))
	if err != nil {
		return nil, nil, err
	}
	if f := earlier(first(fs), l); f != nil {
		return f, nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if l := st.ringAfter(n, a.cfg.Now()); l != nil {
		return l, nil, nil // arrived during the query
	}
	if st.poll == nil {
		st.poll = time.AfterFunc(a.cfg.PollInterval, func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			st.wake()
		})
	}
	return nil, st.notify, nil
}

// Latest returns the newest fragment of stream, or nil.
func (a *Archive) Latest(stream string) (*archive.Fragment, error) {
	var l *archive.Fragment
	st, err := a.stream(stream, false)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.mu.Lock()
		for _, e := range st.ring {
			if !e.durable {
				l = e.f
			}
		}
		st.mu.Unlock()
	}
	fs, err := a.query(stream, `true ORDER BY millis DESC, seq DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	f := first(fs)
	if l != nil && (f == nil || f.Number.Less(l.Number)) {
		f = l
	}
	return f, nil
}

// Get returns fragment n of stream, or archive.ErrNotFound.
func (a *Archive) Get(stream string, n archive.Number) (*archive.Fragment, error) {
	if l := a.liveCopy(stream, n); l != nil && !l.durable {
		return l.f, nil
	}
	fs, err := a.query(stream, `millis = $2 AND seq = $3`, int64(n.Millis), int64(n.Seq))
	if err != nil {
		return nil, err
	}
	if f := first(fs); f != nil {
		return f, nil
	}
	return nil, archive.ErrNotFound
}

// liveCopy returns fragment n from this node's buffer, or nil.
func (a *Archive) liveCopy(stream string, n archive.Number) *live {
	st, err := a.stream(stream, false)
	if err != nil || st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, l := range st.ring {
		if l.f.Number == n {
			return l
		}
	}
	return nil
}

// timeOf returns the start of f by kind.
func timeOf(kind archive.TimeKind, f *archive.Fragment) time.Time {
	if kind == archive.ProducerTime {
		return f.ProducerTime
	}
	return f.ServerTime()
}

func contains(kind archive.TimeKind, f *archive.Fragment, t time.Time) bool {
	s := timeOf(kind, f)
	return !t.Before(s) && t.Before(s.Add(max(f.Duration, time.Millisecond)))
}

// Seek returns the fragment that contains time t (by kind), or else the
// first one that starts after t, or nil if there is none yet. Persisted
// fragments are searched first, then this node's buffer.
func (a *Archive) Seek(stream string, kind archive.TimeKind, t time.Time) (*archive.Fragment, error) {
	var ring []*archive.Fragment // not durable, taken before the queries
	st, err := a.stream(stream, false)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.mu.Lock()
		for _, l := range st.ring {
			if !l.durable {
				ring = append(ring, l.f)
			}
		}
		st.mu.Unlock()
	}
	var atOrBefore, after []*archive.Fragment
	if kind == archive.ProducerTime {
		ns := t.UnixNano()
		atOrBefore, err = a.query(stream, `producer_ns <= $2 ORDER BY producer_ns DESC, millis DESC, seq DESC LIMIT 1`, ns)
		if err == nil {
			after, err = a.query(stream, `producer_ns > $2 ORDER BY producer_ns, millis, seq LIMIT 1`, ns)
		}
	} else {
		ms := floorMillis(t)
		atOrBefore, err = a.query(stream, `millis <= $2 ORDER BY millis DESC, seq DESC LIMIT 1`, ms)
		if err == nil {
			after, err = a.query(stream, `millis > $2 ORDER BY millis, seq LIMIT 1`, ms)
		}
	}
	if err != nil {
		return nil, err
	}
	if f := first(atOrBefore); f != nil && contains(kind, f, t) {
		return f, nil
	}
	if f := first(after); f != nil {
		return f, nil
	}
	var next *archive.Fragment
	for _, f := range ring {
		if contains(kind, f, t) {
			return f, nil
		}
		if t.Before(timeOf(kind, f)) && (next == nil || timeOf(kind, f).Before(timeOf(kind, next))) {
			next = f
		}
	}
	return next, nil
}

// floorMillis returns the Unix millisecond of t, rounded down.
func floorMillis(t time.Time) int64 {
	ns := t.UnixNano()
	ms := ns / int64(time.Millisecond)
	if ns < 0 && ns%int64(time.Millisecond) != 0 {
		ms--
	}
	return ms
}

// List returns up to limit persisted fragments of stream whose start time
// (by kind) is within [start, end] and whose number is greater than n, in
// number order, and whether more follow.
func (a *Archive) List(stream string, kind archive.TimeKind, start, end time.Time, n archive.Number, limit int) ([]*archive.Fragment, bool, error) {
	var where string
	var lo, hi int64
	if kind == archive.ProducerTime {
		where = `producer_ns BETWEEN $4 AND $5`
		lo, hi = start.UnixNano(), end.UnixNano()
	} else {
		// A server time is a whole millisecond: within [start, end]
		// when its millisecond is.
		where = `millis BETWEEN $4 AND $5`
		lo, hi = floorMillis(start), floorMillis(end)
		if !time.UnixMilli(lo).Equal(start) {
			lo++
		}
	}
	fs, err := a.query(stream, `(millis, seq) > ($2, $3) AND `+where+` ORDER BY millis, seq LIMIT $6`,
		int64(n.Millis), int64(n.Seq), lo, hi, max(limit, 0)+1)
	if err != nil {
		return nil, false, err
	}
	if len(fs) > limit {
		return fs[:max(limit, 0)], true, nil
	}
	return fs, false, nil
}

// ReadCluster returns the Cluster bytes of f (a fragment returned by this
// archive): from this node's buffer, else from its object. It returns
// archive.ErrNotFound if the fragment expired or was deleted meanwhile.
func (a *Archive) ReadCluster(stream string, f *archive.Fragment) ([]byte, error) {
	l := a.liveCopy(stream, f.Number)
	if l != nil && !l.durable {
		return l.cluster, nil
	}
	// Durable: the index says whether it still exists (another node may
	// have deleted it) and where; this node's copy saves the read.
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	var object string
	var off, size int64
	err := a.idx.pool.QueryRow(ctx, `SELECT object, off, size FROM `+a.idx.fragments+` WHERE stream = $1 AND millis = $2 AND seq = $3`,
		stream, int64(f.Number.Millis), int64(f.Number.Seq)).Scan(&object, &off, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, archive.ErrNotFound
	}
	if err != nil {
		return nil, a.fail(fmt.Errorf("objarchive: locate fragment %s: %w", f.Number, err))
	}
	if l != nil {
		return l.cluster, nil
	}
	data, err := a.bucket.GetRange(ctx, object, off, size)
	if blob.IsNotFound(err) {
		return nil, archive.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("objarchive: read fragment %s: %w", f.Number, err)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("objarchive: fragment %s: object %s holds %d of its %d bytes", f.Number, object, len(data), size)
	}
	return data, nil
}
