package kvswebrtc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// maxGOP caps the frames a feed keeps for viewers that join (10 s at 30
// fps); a longer key-frame interval makes joiners wait for the next key
// frame instead.
const maxGOP = 300

// feed paces one Source in real time and writes every frame to the tracks
// subscribed to it. A video feed keeps the frames since the last key frame
// and replays them to a new subscriber at once, so a viewer that joins
// decodes its first frame without waiting for the next key frame.
type feed struct {
	src   Source
	video bool
	log   *slog.Logger

	mu    sync.Mutex
	subs  map[*boundTrack]struct{}
	gop   []Frame
	ended bool
}

func newFeed(src Source, video bool, log *slog.Logger) *feed {
	return &feed{src: src, video: video, log: log, subs: map[*boundTrack]struct{}{}}
}

// run reads and writes frames until ctx ends or the source does.
func (f *feed) run(ctx context.Context) {
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		fr, err := f.src.NextFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				f.log.Warn("media source failed", "mime", f.src.MimeType(), "err", err)
			} else {
				f.log.Info("media source ended", "mime", f.src.MimeType())
			}
			f.mu.Lock()
			f.ended = true
			f.mu.Unlock()
			return
		}
		f.mu.Lock()
		if f.video {
			switch {
			case fr.Key:
				f.gop = append(f.gop[:0], fr)
			case len(f.gop) > 0 && len(f.gop) < maxGOP:
				f.gop = append(f.gop, fr)
			default:
				f.gop = f.gop[:0]
			}
		}
		for tr := range f.subs {
			tr.write(fr)
		}
		f.mu.Unlock()
		next = next.Add(fr.Duration)
		if d := time.Until(next); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else {
			if ctx.Err() != nil {
				return
			}
			if d < -time.Second {
				next = time.Now() // fell behind (a slow pipe): do not burst
			}
		}
	}
}

// subscribe starts writing to tr, first the frames since the last key
// frame.
func (f *feed) subscribe(tr *boundTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replayLocked(tr)
	f.subs[tr] = struct{}{}
}

// replay writes the frames since the last key frame to tr again: the
// answer to a viewer's picture loss indication. The frames that follow
// are the live ones, so tr's stream stays decodable.
func (f *feed) replay(tr *boundTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[tr]; ok {
		f.replayLocked(tr)
	}
}

func (f *feed) replayLocked(tr *boundTrack) {
	for _, fr := range f.gop {
		tr.write(fr)
	}
}

func (f *feed) unsubscribe(tr *boundTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, tr)
}

// boundTrack is a TrackLocalStaticSample that reports when pion binds it
// to a connected PeerConnection: only then do writes reach the viewer, so
// that is when it subscribes to its feed.
type boundTrack struct {
	*webrtc.TrackLocalStaticSample
	once   sync.Once
	onBind func()
	// frames and bytes count what was written.
	frames, bytes atomic.Uint64
}

func (t *boundTrack) write(fr Frame) {
	if t.WriteSample(media.Sample{Data: fr.Data, Duration: fr.Duration}) == nil {
		t.frames.Add(1)
		t.bytes.Add(uint64(len(fr.Data)))
	}
}

// Bind implements webrtc.TrackLocal.
func (t *boundTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticSample.Bind(c)
	if err == nil {
		t.once.Do(func() { go t.onBind() })
	}
	return p, err
}
