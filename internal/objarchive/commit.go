package objarchive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openkvs/openkvs/internal/archive"
)

// Index inserts are group-committed: the upload workers of all streams
// hand their rows to a few committer goroutines, and each committer
// writes everything that queued while it was busy in one statement (one
// round trip, one transaction). On a quiet node a request is written at
// once and alone; under load the number of statements stays near one per
// statement latency and committer instead of one per upload, which spares
// PostgreSQL's CPU on a machine it shares.

const (
	// committers is how many group statements run at once: more than one,
	// so that a slow statement does not hold up every stream.
	committers = 2
	// maxGroup bounds the requests (streams) of one statement.
	maxGroup = 256
)

// insertReq is one stream's rows (in number order) waiting to be indexed.
type insertReq struct {
	ctx    context.Context
	stream string
	rows   []row
	done   chan insertRes // buffered: the committer never waits for the uploader
}

// insertRes is the outcome of an insertReq: for ErrNumberBehind, last is
// the stream's head.
type insertRes struct {
	last archive.Number
	err  error
}

// startCommitters starts the index's committer goroutines.
func (x *index) startCommitters() {
	x.reqs = make(chan *insertReq)
	x.stopc = make(chan struct{})
	for range committers {
		x.commits.Go(x.commitLoop)
	}
}

// stopCommitters stops the committers; callers have no insert running.
func (x *index) stopCommitters() {
	close(x.stopc)
	x.commits.Wait()
}

// insert indexes rows (of one stream, in number order) as one group
// commit's share: it first moves the stream's head (the newest number ever
// indexed) to the last row's number, on the condition that the head is
// below the first row's; only then are the rows inserted. The head's row
// lock serializes the inserts of a stream across nodes, and PostgreSQL
// checks the condition against the newest head even when another node
// moved it meanwhile. When the head is not below, it returns
// ErrNumberBehind and the head. A nil error means the rows are committed.
func (x *index) insert(ctx context.Context, stream string, rows []row) (last archive.Number, err error) {
	req := &insertReq{ctx: ctx, stream: stream, rows: rows, done: make(chan insertRes, 1)}
	select {
	case x.reqs <- req:
	case <-ctx.Done():
		return last, fmt.Errorf("objarchive: index fragments of %s: %w", stream, ctx.Err())
	}
	// The committer always answers (its statement is bounded by the
	// requests' deadlines); waiting for it keeps the outcome exact.
	res := <-req.done
	return res.last, res.err
}

// commitLoop takes a request, adds the ones queued meanwhile (one per
// stream: the head row may be updated once per statement) and commits them
// together.
func (x *index) commitLoop() {
	var later []*insertReq // a stream's second request, for the next group
	for {
		var group []*insertReq
		if len(later) > 0 {
			group, later = later, nil
		} else {
			select {
			case r := <-x.reqs:
				group = append(group, r)
			case <-x.stopc:
				return
			}
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-x.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		group, later = splitDuplicates(group, later)
		x.commitGroup(group)
	}
}

// splitDuplicates keeps one request per stream in group and moves the
// others to later, in order.
func splitDuplicates(group, later []*insertReq) (unique, rest []*insertReq) {
	seen := make(map[string]bool, len(group))
	for _, r := range group {
		if seen[r.stream] {
			later = append(later, r)
			continue
		}
		seen[r.stream] = true
		unique = append(unique, r)
	}
	return unique, later
}

// commitGroup runs group's inserts in one statement and answers each
// request. When the statement fails, each request is retried alone, so that
// one stream's bad rows fail only that stream.
func (x *index) commitGroup(group []*insertReq) {
	moved, err := x.insertGroup(group)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(group) > 1 {
		// PostgreSQL refused the statement, so nothing of it is
		// committed. (After a lost connection it may be: retrying would
		// then find the heads moved and report the rows as behind.)
		for _, r := range group {
			x.commitGroup([]*insertReq{r})
		}
		return
	}
	for _, r := range group {
		var res insertRes
		switch {
		case err != nil:
			res.err = fmt.Errorf("objarchive: index fragments of %s: %w", r.stream, err)
		case !moved[r.stream]:
			res.last, res.err = x.behind(r)
		}
		r.done <- res
	}
}

// behind reads the head of r's stream, which was not below r's first row.
func (x *index) behind(r *insertReq) (archive.Number, error) {
	var hm, hs int64
	if err := x.pool.QueryRow(r.ctx, `SELECT millis, seq FROM `+x.heads+` WHERE stream = $1`, r.stream).Scan(&hm, &hs); err != nil {
		return archive.Number{}, fmt.Errorf("objarchive: head of %s: %w", r.stream, err)
	}
	last := archive.Number{Millis: uint64(hm), Seq: uint64(hs)}
	return last, fmt.Errorf("%w: %s is at %s, this fragment is %s", ErrNumberBehind, r.stream, last, r.rows[0].f.Number)
}

// insertGroup runs one statement for group (one request per stream) and
// returns the streams whose head it moved, whose rows it inserted. Heads
// are locked in stream order, so that two nodes' statements sharing
// streams do not deadlock.
func (x *index) insertGroup(group []*insertReq) (moved map[string]bool, err error) {
	slices.SortFunc(group, func(a, b *insertReq) int { return strings.Compare(a.stream, b.stream) })
	ctx := context.Background()
	var deadline time.Time
	for _, r := range group {
		if d, ok := r.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	n := 0
	for _, r := range group {
		n += len(r.rows)
	}
	var (
		hs                                            = make([]string, len(group))
		fms, fseq, lms, lseq                          = make([]int64, len(group)), make([]int64, len(group)), make([]int64, len(group)), make([]int64, len(group))
		names                                         = make([]string, 0, n)
		ms, seq, prod, tc, dur, size, scale, off, end = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		frames                                        = make([]int32, 0, n)
		tracks, tags                                  = make([][]byte, 0, n), make([][]byte, 0, n)
		objects                                       = make([]string, 0, n)
	)
	for i, r := range group {
		first, final := r.rows[0].f.Number, r.rows[len(r.rows)-1].f.Number
		hs[i], fms[i], fseq[i], lms[i], lseq[i] = r.stream, int64(first.Millis), int64(first.Seq), int64(final.Millis), int64(final.Seq)
		for _, w := range r.rows {
			f := w.f
			tr := f.Header.Tracks
			if tr == nil {
				tr = []byte{}
			}
			names = append(names, r.stream)
			ms, seq = append(ms, int64(f.Number.Millis)), append(seq, int64(f.Number.Seq))
			prod, tc = append(prod, f.ProducerTime.UnixNano()), append(tc, int64(f.Timecode))
			dur, size = append(dur, int64(f.Duration)), append(size, f.Size)
			frames, scale = append(frames, int32(f.Frames)), append(scale, int64(f.Header.TimecodeScale))
			tracks, tags = append(tracks, tr), append(tags, f.Tags)
			objects, off, end = append(objects, w.object), append(off, w.off), append(end, int64(w.objectEnd))
		}
	}
	rows, err := x.pool.Query(ctx, `WITH input AS (
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
				AS i(stream, first_ms, first_seq, last_ms, last_seq)),
		head AS (
			INSERT INTO `+x.heads+` AS h (stream, millis, seq)
			SELECT stream, last_ms, last_seq FROM input ORDER BY stream
			ON CONFLICT (stream) DO UPDATE SET millis = EXCLUDED.millis, seq = EXCLUDED.seq
			WHERE (h.millis, h.seq) < (SELECT i.first_ms, i.first_seq FROM input i WHERE i.stream = h.stream)
			RETURNING stream),
		ins AS (
			INSERT INTO `+x.fragments+` (stream, millis, seq, producer_ns, timecode, duration_ns, size, frames,
				timecode_scale, tracks, tags, object, off, object_end)
			SELECT * FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
				$12::bigint[], $13::integer[], $14::bigint[], $15::bytea[], $16::bytea[], $17::text[], $18::bigint[], $19::bigint[])
				AS r(stream, millis, seq, producer_ns, timecode, duration_ns, size, frames, timecode_scale, tracks, tags, object, off, object_end)
			WHERE r.stream IN (SELECT stream FROM head))
		SELECT stream FROM head`,
		hs, fms, fseq, lms, lseq,
		names, ms, seq, prod, tc, dur, size, frames, scale, tracks, tags, objects, off, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	moved = make(map[string]bool, len(group))
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		moved[s] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return moved, nil
}
