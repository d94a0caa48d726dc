package mkv

import (
	"testing"
	"time"
)

func TestClusterDuration(t *testing.T) {
	tracks := &Tracks{Entries: []Track{{Number: 1}, {Number: 2, DefaultDuration: 20_000_000}}}
	for _, tt := range []struct {
		name   string
		frames []Frame
		want   time.Duration
	}{
		{"empty", nil, 0},
		{"one frame, no duration", []Frame{{Track: 1}}, 0},
		{"mean interval", []Frame{{Track: 1}, {Track: 1, Timecode: 40}, {Track: 1, Timecode: 80}}, 120 * time.Millisecond},
		{"block duration", []Frame{{Track: 1}, {Track: 1, Timecode: 40, Duration: 10}}, 50 * time.Millisecond},
		{"default duration", []Frame{{Track: 2, Timecode: 100}}, 120 * time.Millisecond},
		{"longest track", []Frame{{Track: 1}, {Track: 1, Timecode: 40}, {Track: 2, Timecode: 200}}, 220 * time.Millisecond},
	} {
		c := &Cluster{Timecode: 5000, Frames: tt.frames}
		if got := c.Duration(tracks, 1_000_000); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
