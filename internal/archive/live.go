package archive

// trimLive enforces Config.LiveTotalBytes across streams: while the live
// buffers hold more, it drops the oldest live copy of a durable fragment,
// or, when there is none, the oldest live-only fragment. Fragments being
// made durable and each stream's newest fragment are kept, so the bound
// can be exceeded by those.
func (a *Archive) trimLive() {
	if a.liveTotal.Load() <= a.cfg.LiveTotalBytes {
		return
	}
	a.trimMu.Lock()
	defer a.trimMu.Unlock()
	for a.liveTotal.Load() > a.cfg.LiveTotalBytes {
		st, num, ok := a.oldestEvictable()
		if !ok {
			return
		}
		st.mu.Lock()
		for i, f := range st.ring {
			if f.Number == num && i < len(st.ring)-1 && f.state != livePending {
				st.dropLive(i)
				break
			}
		}
		st.mu.Unlock()
	}
}

// oldestEvictable finds the fragment trimLive drops next: the durable one
// with the smallest number, else the live-only one with the smallest
// number. Fragment numbers grow with ingest time across streams.
func (a *Archive) oldestEvictable() (*stream, Number, bool) {
	a.mu.Lock()
	streams := make([]*stream, 0, len(a.streams))
	for _, st := range a.streams {
		streams = append(streams, st)
	}
	a.mu.Unlock()
	var (
		best      *stream
		bestNum   Number
		bestClass = 2 // 0: durable, 1: live-only
	)
	for _, st := range streams {
		st.mu.Lock()
		for _, f := range st.ring[:max(len(st.ring)-1, 0)] {
			class := 1
			switch f.state {
			case livePending:
				continue
			case liveDurable, liveCached:
				class = 0
			}
			if class < bestClass || (class == bestClass && f.Number.Less(bestNum)) {
				best, bestNum, bestClass = st, f.Number, class
			}
			if class == 0 {
				break // the rest of this ring is newer
			}
		}
		st.mu.Unlock()
	}
	return best, bestNum, best != nil
}
