package objarchive

import (
	"context"
	"fmt"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
)

func (a *Archive) sweepLoop() {
	t := time.NewTicker(a.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			if err := a.Sweep(context.Background()); err != nil {
				a.log.Warn("objarchive: retention sweep", "err", err)
			}
		}
	}
}

// Sweep applies retention once: for every stream in the index, it deletes
// the objects whose newest fragment is older than the stream's retention,
// and their index rows, and deletes all data of streams that no longer
// exist. Nodes may sweep at the same time: each row is deleted once, and
// its object by the node that deleted it.
func (a *Archive) Sweep(ctx context.Context) error {
	if a.cfg.Retention == nil {
		return nil
	}
	streams, err := a.indexedStreams(ctx)
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	for _, name := range streams {
		keep, ok, err := a.cfg.Retention(ctx, name)
		if err != nil {
			return fmt.Errorf("objarchive: retention of %s: %w", name, err)
		}
		if !ok {
			if err := a.DeleteStream(name); err != nil {
				return err
			}
			continue
		}
		if keep <= 0 {
			continue
		}
		cutoff := now.Add(-keep).UnixMilli()
		if err := a.deleteRows(ctx, name, `object_end < $2`, cutoff); err != nil {
			return err
		}
	}
	return nil
}

// indexedStreams lists the streams with rows, by a skip scan of the
// primary key (one probe per stream, not a scan of every row).
func (a *Archive) indexedStreams(ctx context.Context) ([]string, error) {
	f := a.idx.fragments
	rows, err := a.idx.pool.Query(ctx, `WITH RECURSIVE s(stream) AS (
			(SELECT stream FROM `+f+` ORDER BY stream LIMIT 1)
			UNION ALL
			SELECT (SELECT stream FROM `+f+` WHERE stream > s.stream ORDER BY stream LIMIT 1) FROM s WHERE s.stream IS NOT NULL)
		SELECT stream FROM s WHERE stream IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("objarchive: list streams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("objarchive: list streams: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// deleteRows deletes the rows of stream matching where (arguments from
// $2), then the objects they were in. Rows go first, so that readers never
// find a row whose object is gone (a reader holding a fragment gets
// archive.ErrNotFound from ReadCluster, as with the embedded archive).
func (a *Archive) deleteRows(ctx context.Context, stream, where string, args ...any) error {
	rows, err := a.idx.pool.Query(ctx, `DELETE FROM `+a.idx.fragments+` WHERE stream = $1 AND `+where+` RETURNING object`,
		append([]any{stream}, args...)...)
	if err != nil {
		return fmt.Errorf("objarchive: delete fragments of %s: %w", stream, err)
	}
	objects := map[string]bool{}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return fmt.Errorf("objarchive: delete fragments of %s: %w", stream, err)
		}
		objects[o] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("objarchive: delete fragments of %s: %w", stream, err)
	}
	for o := range objects {
		if err := a.bucket.Delete(ctx, o); err != nil {
			return fmt.Errorf("objarchive: delete object %s: %w", o, err)
		}
	}
	return nil
}

// DeleteStream deletes every fragment of the stream: index rows, objects
// (also any left unindexed by a node that died between writing an object
// and indexing it) and this node's buffer, after this node's upload under
// way ended. Writers still running get archive.ErrStreamDeleted. The other
// nodes are told by the caller (the server, over the bus) and call
// ForgetStream; an upload of another node that ends after the deletion and
// that node's ForgetStream missed (a lost message) leaves rows that the
// sweeper of any node deletes once it finds the stream gone from the
// catalog.
func (a *Archive) DeleteStream(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := a.drop(ctx, name); err != nil {
		return err
	}
	if err := a.deleteRows(ctx, name, `true`); err != nil {
		return err
	}
	left, err := a.bucket.List(ctx, streamPrefix(name))
	if err != nil {
		return fmt.Errorf("objarchive: list objects of %s: %w", name, err)
	}
	for _, o := range left {
		if err := a.bucket.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("objarchive: delete object %s: %w", o.Key, err)
		}
	}
	return nil
}

// ForgetStream is this node's part of a DeleteStream that another node
// made (which deleted the stream's rows and objects): like DeleteStream on
// one node, it ends this node's writers of the stream (their Put and
// upload get archive.ErrStreamDeleted), wakes its readers, drops its
// buffer (with the fragments heard from other nodes) and its bus
// subscriptions, waits for its upload under way, and deletes the rows
// that upload indexed after the other node's deletion. Only fragments
// this node numbered up to the last one it received are deleted, so a
// stream created again meanwhile under the same name keeps the fragments
// other nodes received for it.
func (a *Archive) ForgetStream(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	last, err := a.drop(ctx, name)
	if err != nil || last == (archive.Number{}) {
		return err
	}
	return a.deleteRows(ctx, name, `seq & $2 = $3 AND (millis, seq) <= ($4, $5)`,
		int64(1<<nodeBits-1), int64(a.numbers.node), int64(last.Millis), int64(last.Seq))
}

// drop ends this node's state of stream name (see DeleteStream) once its
// upload under way ended, and returns the number of the last fragment
// this node received for it (zero if none).
func (a *Archive) drop(ctx context.Context, name string) (archive.Number, error) {
	st, err := a.stream(name, false)
	if err != nil || st == nil {
		return archive.Number{}, nil
	}
	a.unfollow(st)
	st.mu.Lock()
	st.gone = true
	st.ring = nil
	st.wake()
	var idle chan struct{}
	if st.busy {
		idle = st.idle
	}
	last := st.lastPut
	st.mu.Unlock()
	a.mu.Lock()
	if a.streams[name] == st {
		delete(a.streams, name)
	}
	a.mu.Unlock()
	// An upload under way would index its fragments after the rows are
	// deleted: wait for it (later ones fail).
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return last, fmt.Errorf("objarchive: delete %s: waiting for its upload: %w", name, ctx.Err())
		}
	}
	return last, nil
}
