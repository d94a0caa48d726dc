package archive

import (
	"context"
	"os"
	"sort"
	"time"
)

func (a *Archive) sweepLoop() {
	defer close(a.sweepDone)
	t := time.NewTicker(a.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := a.Sweep(context.Background()); err != nil {
			a.log.Warn("archive: retention sweep", "err", err)
		}
		select {
		case <-a.stopSweep:
			return
		case <-t.C:
		}
	}
}

// Sweep applies retention once: for every stream it drops the fragments
// whose server timestamp is older than now minus the stream's retention
// (all of them for retention 0), deletes segment files that no longer hold
// a live fragment, and deletes the data of streams Config.Retention no
// longer knows. It runs in the background every SweepInterval; tests call
// it directly with an injected clock.
func (a *Archive) Sweep(ctx context.Context) error {
	if a.cfg.Retention == nil {
		return nil
	}
	a.mu.Lock()
	names := make([]string, 0, len(a.streams))
	for name := range a.streams {
		names = append(names, name)
	}
	a.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		ret, ok, err := a.cfg.Retention(ctx, name)
		if err != nil {
			return err
		}
		if !ok {
			a.log.Info("archive: deleting data of a stream that no longer exists", "stream", name)
			if err := a.DeleteStream(name); err != nil {
				return err
			}
			continue
		}
		st, err := a.stream(name, false)
		if err != nil {
			return err
		}
		if st != nil {
			st.expire(a.now().Add(-ret), ret <= 0)
		}
	}
	return nil
}

// expire drops index entries older than cutoff (all of them if all is
// set) and deletes empty segments.
func (st *stream) expire(cutoff time.Time, all bool) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.mu.Lock()
	i := 0
	for i < len(st.index) && (all || st.index[i].ServerTime().Before(cutoff)) {
		st.index[i].seg.count--
		st.index[i] = nil
		i++
	}
	if i > 0 {
		st.index = append(st.index[:0:0], st.index[i:]...)
	}
	var keep, drop []*segment
	for _, seg := range st.segs {
		if seg.count > 0 {
			keep = append(keep, seg)
			continue
		}
		drop = append(drop, seg)
		seg.removed = true
		if seg.refs == 0 {
			seg.f.Close()
		}
	}
	st.segs = keep
	st.mu.Unlock()
	for _, seg := range drop {
		if seg == st.cur {
			st.cur, st.curHeader = nil, nil
		}
		for j, u := range st.unsynced {
			if u == seg {
				st.unsynced = append(st.unsynced[:j:j], st.unsynced[j+1:]...)
				break
			}
		}
		if err := os.Remove(seg.path); err != nil && !os.IsNotExist(err) {
			st.a.log.Warn("archive: remove segment", "path", seg.path, "err", err)
		}
	}
}
