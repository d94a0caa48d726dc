package mkv

import "time"

// Duration estimates the time c's frames cover: for each track, from the
// Cluster timecode to its last frame plus one frame (BlockDuration, else
// the track's DefaultDuration, else the track's mean frame interval).
// scale is the Segment's TimecodeScale (nanoseconds per tick); tracks may
// be nil.
func (c *Cluster) Duration(tracks *Tracks, scale uint64) time.Duration {
	type span struct {
		first, last int64
		n           int
		lastDur     int64
	}
	spans := map[uint64]*span{}
	for i := range c.Frames {
		f := &c.Frames[i]
		t := c.Time(f)
		sp := spans[f.Track]
		if sp == nil {
			sp = &span{first: t, last: t}
			spans[f.Track] = sp
		}
		sp.first, sp.n = min(sp.first, t), sp.n+1
		if t >= sp.last {
			sp.last, sp.lastDur = t, int64(f.Duration)
		}
	}
	var end int64
	for track, sp := range spans {
		step := sp.lastDur
		if step == 0 && tracks != nil {
			if tr := tracks.Track(track); tr != nil && tr.DefaultDuration > 0 && scale > 0 {
				step = int64(tr.DefaultDuration / scale)
			}
		}
		if step == 0 && sp.n > 1 {
			step = (sp.last - sp.first) / int64(sp.n-1)
		}
		end = max(end, sp.last+step)
	}
	ticks := end - int64(c.Timecode)
	if ticks <= 0 {
		return 0
	}
	return time.Duration(ticks) * time.Duration(scale)
}
