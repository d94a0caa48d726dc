package producer

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
)

// Frame is one frame of a track: a video access unit or an audio packet.
type Frame struct {
	// Track is the TrackNumber.
	Track uint64
	// PTS is the presentation time, from Config.StartTime.
	PTS time.Duration
	// KeyFrame marks a frame that decodes on its own. On AnnexB tracks key
	// frames are also detected from the data.
	KeyFrame bool
	// Data is the payload. PutFrame does not keep it.
	Data []byte
}

// DropReason says why frames or a fragment were dropped.
type DropReason int

// Reasons for a Drop.
const (
	// DropBeforeKeyFrame: frames before the first key frame, or while
	// waiting for the next key frame after an earlier drop.
	DropBeforeKeyFrame DropReason = iota + 1
	// DropBufferFull: the buffer reached MaxBufferBytes or
	// MaxBufferDuration.
	DropBufferFull
	// DropFragmentTooLong: no key frame came within MaxFragmentDuration.
	DropFragmentTooLong
	// DropRejected: the service rejected the fragment with an ERROR ack
	// (Drop.Err is the *AckError).
	DropRejected
)

// String returns a short description of the reason.
func (r DropReason) String() string {
	switch r {
	case DropBeforeKeyFrame:
		return "before key frame"
	case DropBufferFull:
		return "buffer full"
	case DropFragmentTooLong:
		return "fragment too long"
	case DropRejected:
		return "rejected"
	}
	return fmt.Sprintf("DropReason(%d)", int(r))
}

// Drop reports dropped data: one frame, or a whole fragment.
type Drop struct {
	Reason DropReason
	// Frames is the number of frames dropped.
	Frames int
	// Fragment reports that a whole fragment was dropped;
	// FragmentTimecode identifies it (ms since the Unix epoch).
	Fragment         bool
	FragmentTimecode int64
	// Track and PTS identify a dropped single frame.
	Track uint64
	PTS   time.Duration
	// Err is the ERROR ack of a rejected fragment.
	Err error
}

// Stats are a Producer's counters.
type Stats struct {
	FramesPut          uint64 // frames accepted by PutFrame, dropped ones included
	FramesDropped      uint64
	FragmentsPersisted uint64 // PERSISTED (or RECEIVED with AckOnReceived)
	FragmentsDropped   uint64
	ErrorAcks          uint64
	// FragmentsFoundStored counts fragments of lost connections that
	// ListFragments showed were stored (counted as persisted too).
	FragmentsFoundStored uint64
	BytesSent            int64  // request body bytes, resends included
	Connections          uint64 // PutMedia requests started
	// BufferedFragments, BufferedBytes and BufferedDuration describe what
	// is kept until PERSISTED, the fragment being built included.
	BufferedFragments int
	BufferedBytes     int64
	BufferedDuration  time.Duration
	// LastAckLatency is, for the last PERSISTED fragment, the time from
	// its completion to its ack.
	LastAckLatency time.Duration
}

type fragState int

const (
	statePending fragState = iota
	statePersisted
	stateDropped
)

// fragment is one Matroska Cluster, identified by its timecode.
type fragment struct {
	seq      uint64
	tc       int64         // Cluster timecode, ms since the Unix epoch
	start    time.Duration // PTS of the key frame that opened it
	data     []byte        // the Cluster: unknown-size header, Timestamp, SimpleBlocks
	frames   int
	complete bool
	doneAt   time.Time
	sentBy   uint64 // the session that last sent (part of) it
	errors   int    // retryable ERROR acks
	state    fragState
}

type trackState struct {
	Track
	codec h26x.Codec
}

// Producer streams frames to one stream. Its methods are safe for
// concurrent use.
type Producer struct {
	cfg    Config
	log    *slog.Logger
	client interface {
		Do(*http.Request) (*http.Response, error)
	}
	kvs *kinesisvideo.Client
	// ctrl is the index of the ControlEndpoints entry in use; guarded
	// by mu.
	ctrl   int
	signer *v4.Signer
	tracks map[uint64]*trackState
	order  []uint64 // track numbers in Config order

	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	w        *mkv.Writer
	sink     sink
	header   []byte // EBML header, Segment start, Info, Tracks; nil before the first fragment
	frags    []*fragment
	open     *fragment
	nextSeq  uint64
	lastTC   int64
	lastPTS  time.Duration
	sizeHint int // bytes of the last complete fragment
	// ackOnReceived is Config.AckOnReceived, or learnt from DescribeStream.
	ackOnReceived bool
	// Fragment metadata for the next fragment, and for every fragment.
	metaOnce, metaPersist []mkv.SimpleTag
	bytes                 int64
	skipping              bool
	closing               bool
	err                   error // fatal
	sess                  *session
	nextSess              uint64
	pressured             bool
	stats                 Stats
	epURL                 string
	epAt                  time.Time
	queued                []func()
}

// sink appends writes to the slice it points at.
type sink struct{ b *[]byte }

func (s sink) Write(p []byte) (int, error) {
	*s.b = append(*s.b, p...)
	return len(p), nil
}

// Start validates cfg and starts a Producer; it connects when the first
// fragment starts. ctx bounds the Producer's whole life: cancelling it
// stops it at once (Close flushes first).
func Start(ctx context.Context, cfg Config) (*Producer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Producer{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "producer", "stream", cfg.StreamName+cfg.StreamARN),
		signer: v4.NewSigner(),
		tracks: make(map[uint64]*trackState),
		done:   make(chan struct{}),
		lastTC: math.MinInt64,
	}
	p.cond = sync.NewCond(&p.mu)
	p.ackOnReceived = cfg.AckOnReceived
	switch {
	case cfg.HTTPClient != nil:
		p.client = cfg.HTTPClient
	case cfg.AWS.HTTPClient != nil:
		p.client = cfg.AWS.HTTPClient
	default:
		p.client = &http.Client{}
	}
	if cfg.DataEndpoint == "" {
		p.kvs = kinesisvideo.NewFromConfig(cfg.AWS)
	}
	for _, t := range cfg.Tracks {
		ts := &trackState{Track: t, codec: codecOf(t.CodecID)}
		ts.CodecPrivate = append([]byte(nil), t.CodecPrivate...)
		p.tracks[t.Number] = ts
		p.order = append(p.order, t.Number)
	}
	p.w, err = mkv.NewWriter(&p.sink, mkv.WriterConfig{MuxingApp: "openkvs-producer", WritingApp: cfg.UserAgent})
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	ctx, p.cancel = context.WithCancel(ctx)
	context.AfterFunc(ctx, p.wake)
	go p.run(ctx)
	return p, nil
}

// wake wakes every goroutine waiting on the buffer.
func (p *Producer) wake() {
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// unlockAndFire releases p.mu and runs the callbacks queued under it.
func (p *Producer) unlockAndFire() {
	q := p.queued
	p.queued = nil
	p.mu.Unlock()
	for _, f := range q {
		f()
	}
}

func (p *Producer) reportDrop(d Drop) {
	if d.Fragment {
		p.stats.FragmentsDropped++
	}
	p.stats.FramesDropped += uint64(d.Frames)
	p.log.Debug("producer: drop", "reason", d.Reason.String(), "frames", d.Frames, "fragment", d.FragmentTimecode, "err", d.Err)
	if cb := p.cfg.OnDrop; cb != nil {
		p.queued = append(p.queued, func() { cb(d) })
	}
}

// PutFrame adds a frame. A key frame of the key-frame track starts a new
// fragment (see Config.FragmentDuration); frames of a fragment must come
// in order, and each fragment must start after the previous one. Frames
// that cannot be kept are dropped and reported to OnDrop: PutFrame does
// not block for the network, except with Config.Offline, where it waits
// (as long as ctx allows) for buffer space instead. It returns an error
// for a bad frame, after Close, or once the producer has failed.
func (p *Producer) PutFrame(ctx context.Context, f Frame) error {
	ts := p.tracks[f.Track]
	if ts == nil {
		return fmt.Errorf("%w: frame for unknown track %d", ErrBadTrack, f.Track)
	}
	if len(f.Data) == 0 {
		return fmt.Errorf("%w: empty frame on track %d", ErrBadTrack, f.Track)
	}
	key := f.KeyFrame || (ts.AnnexB && h26x.IsKeyFrameAnnexB(ts.codec, f.Data))
	data := f.Data
	if ts.AnnexB {
		data = h26x.AnnexBToAVCC(nil, f.Data)
	}

	p.mu.Lock()
	defer p.unlockAndFire()
	if p.err != nil {
		return p.err
	}
	if p.closing {
		return ErrClosed
	}
	p.stats.FramesPut++
	abs := p.cfg.StartTime.Add(f.PTS).UnixMilli()
	dropFrame := func(r DropReason) {
		p.reportDrop(Drop{Reason: r, Frames: 1, Track: f.Track, PTS: f.PTS})
	}
	starts := f.Track == p.cfg.KeyFrameTrack && key &&
		(p.open == nil || p.skipping || f.PTS-p.open.start >= p.cfg.FragmentDuration)
	switch {
	case starts:
		if abs <= p.lastTC {
			p.stats.FramesPut--
			return fmt.Errorf("%w: %d ms after %d ms", ErrTimestamp, abs, p.lastTC)
		}
		if p.header == nil {
			if err := p.writeHeader(ts, f.Data); err != nil {
				p.stats.FramesPut--
				return err
			}
		}
		p.finishOpen()
		if err := p.waitRoom(ctx, int64(len(data)), f.PTS); err != nil {
			p.stats.FramesPut--
			return err
		}
		if abs <= p.lastTC { // another PutFrame started a fragment while we waited
			p.stats.FramesPut--
			return fmt.Errorf("%w: %d ms after %d ms", ErrTimestamp, abs, p.lastTC)
		}
		if !p.cfg.Offline && !p.makeRoom(int64(len(data)), f.PTS) {
			p.skipping = true
			dropFrame(DropBufferFull)
			return nil
		}
		p.openFragment(abs, f.PTS)
	case p.open == nil || p.skipping:
		dropFrame(DropBeforeKeyFrame)
		return nil
	default:
		rel := abs - p.open.tc
		if f.PTS-p.open.start > p.cfg.MaxFragmentDuration || rel < math.MinInt16 || rel > math.MaxInt16 {
			p.skipping = true
			dropFrame(DropFragmentTooLong)
			return nil
		}
		if err := p.waitRoom(ctx, int64(len(data)), f.PTS); err != nil {
			p.stats.FramesPut--
			return err
		}
		if p.open == nil || p.skipping {
			dropFrame(DropBeforeKeyFrame) // its fragment was rejected while we waited
			return nil
		}
		if !p.cfg.Offline && !p.makeRoom(int64(len(data)), f.PTS) {
			p.skipping = true
			dropFrame(DropBufferFull)
			return nil
		}
	}
	o := p.open
	before := len(o.data)
	p.sink.b = &o.data
	if err := p.w.WriteFrame(mkv.Frame{Track: f.Track, Timecode: int16(abs - o.tc), Keyframe: key, Data: data}); err != nil {
		return fmt.Errorf("producer: write frame: %w", err)
	}
	o.frames++
	p.bytes += int64(len(o.data) - before)
	p.lastPTS = max(p.lastPTS, f.PTS)
	p.checkPressure()
	p.cond.Broadcast()
	return nil
}

// maxFragmentMetadata is the service's limit of metadata tags per
// fragment (FRAGMENT_METADATA_LIMIT_REACHED beyond).
const maxFragmentMetadata = 10

// PutFragmentMetadata attaches a name/value pair to the next fragment, as
// the KVS producer SDKs' putFragmentMetadata does: a Matroska SimpleTag in
// a Tags element just before the fragment's Cluster, which GetMedia hands
// back. Persistent metadata goes on every later fragment, until it is put
// again with an empty value, which removes it. Names must not start with
// "AWS"; a fragment carries at most 10 pairs.
func (p *Producer) PutFragmentMetadata(name, value string, persistent bool) error {
	if name == "" || mkv.IsReservedTagName(name) {
		return fmt.Errorf("%w: name %q is empty or reserved", ErrMetadata, name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.closing {
		return ErrClosed
	}
	if persistent {
		i := slices.IndexFunc(p.metaPersist, func(t mkv.SimpleTag) bool { return t.Name == name })
		switch {
		case value == "" && i >= 0:
			p.metaPersist = slices.Delete(p.metaPersist, i, i+1)
			return nil
		case value == "":
			return nil
		case i >= 0:
			p.metaPersist[i].String = value
			return nil
		}
	}
	if len(p.metaPersist)+len(p.metaOnce) >= maxFragmentMetadata {
		return fmt.Errorf("%w: more than %d pairs for one fragment", ErrMetadata, maxFragmentMetadata)
	}
	t := mkv.SimpleTag{Name: name, String: value}
	if persistent {
		p.metaPersist = append(p.metaPersist, t)
	} else {
		p.metaOnce = append(p.metaOnce, t)
	}
	return nil
}

// writeHeader builds the stream header once the first fragment starts,
// taking codec private data of AnnexB tracks from this key frame.
func (p *Producer) writeHeader(key *trackState, au []byte) error {
	if key.AnnexB && len(key.CodecPrivate) == 0 {
		ok, err := codecPrivate(&key.Track.Track, key.codec, au)
		if err != nil {
			return err
		}
		if !ok {
			p.log.Warn("producer: first key frame has no parameter sets; track has no codec private data", "track", key.Number)
		}
	}
	tracks := make([]mkv.Track, 0, len(p.order))
	for _, n := range p.order {
		tracks = append(tracks, p.tracks[n].Track.Track)
	}
	var hdr []byte
	p.sink.b = &hdr
	if err := p.w.WriteHeader(tracks); err != nil {
		return fmt.Errorf("producer: stream header: %w", err)
	}
	p.header = hdr
	return nil
}

func (p *Producer) finishOpen() {
	if p.open != nil {
		p.sizeHint = len(p.open.data)
		p.open.complete = true
		p.open.doneAt = p.cfg.Now()
		p.open = nil
	}
}

func (p *Producer) openFragment(tc int64, pts time.Duration) {
	p.nextSeq++
	// Size it like the last one, so that appending frames rarely copies.
	o := &fragment{seq: p.nextSeq, tc: tc, start: pts, data: make([]byte, 0, p.sizeHint+p.sizeHint/8+256)}
	p.sink.b = &o.data
	if tags := append(p.metaPersist[:len(p.metaPersist):len(p.metaPersist)], p.metaOnce...); len(tags) > 0 {
		// Fragment metadata precedes its Cluster; it is resent with it.
		_ = p.w.WriteTags(tags...)
		p.metaOnce = nil
	}
	// BeginCluster cannot fail: it only writes to the sink.
	_ = p.w.BeginCluster(uint64(tc))
	p.bytes += int64(len(o.data))
	p.frags = append(p.frags, o)
	p.open = o
	p.lastTC = tc
	p.skipping = false
}

// bufferedDuration is the media time from the oldest kept fragment to
// the newest frame.
func (p *Producer) bufferedDuration() time.Duration {
	if len(p.frags) == 0 {
		return 0
	}
	return p.lastPTS - p.frags[0].start
}

// over reports whether a frame of n bytes at pts would exceed the buffer
// bounds.
func (p *Producer) over(n int64, pts time.Duration) bool {
	return p.bytes+n > p.cfg.MaxBufferBytes ||
		(len(p.frags) > 0 && max(pts, p.lastPTS)-p.frags[0].start > p.cfg.MaxBufferDuration)
}

// waitRoom, in offline mode, waits until a frame of n bytes at pts fits
// the buffer, for as long as fragments that the service can complete are
// still to be persisted: every fragment but the newest, whose end the
// service sees only when the next one starts. Offline buffers may thus
// exceed their bounds by one fragment, and never drop.
func (p *Producer) waitRoom(ctx context.Context, n int64, pts time.Duration) error {
	if !p.cfg.Offline || !p.over(n, pts) {
		return nil
	}
	stop := context.AfterFunc(ctx, p.wake)
	defer stop()
	freeable := func() bool {
		return len(p.frags) > 1 && slices.ContainsFunc(p.frags[:len(p.frags)-1], func(f *fragment) bool {
			return f.state == statePending
		})
	}
	for p.over(n, pts) && p.err == nil && !p.closing && ctx.Err() == nil && freeable() {
		p.cond.Wait()
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case p.err != nil:
		return p.err
	case p.closing:
		return ErrClosed
	}
	return nil
}

// makeRoom drops the oldest fragments not in flight until a frame of n
// bytes at pts fits the buffer bounds; it reports whether it fits.
func (p *Producer) makeRoom(n int64, pts time.Duration) bool {
	for p.over(n, pts) {
		var victim *fragment
		for _, f := range p.frags {
			if f.state == statePending && f.complete && (p.sess == nil || f.sentBy != p.sess.id) {
				victim = f
				break
			}
		}
		if victim == nil {
			return false
		}
		p.drop(victim, Drop{Reason: DropBufferFull})
	}
	return true
}

// drop removes a fragment from the buffer and reports it.
func (p *Producer) drop(f *fragment, d Drop) {
	f.state = stateDropped
	p.bytes -= int64(len(f.data))
	f.data = nil
	if f == p.open {
		p.open, p.skipping = nil, true
	}
	f.complete = true
	d.Fragment, d.FragmentTimecode, d.Frames = true, f.tc, f.frames
	p.reportDrop(d)
	p.trim()
}

// trim forgets the persisted and dropped fragments at the head of the
// buffer.
func (p *Producer) trim() {
	i := 0
	for i < len(p.frags) && p.frags[i].complete && p.frags[i].state != statePending {
		i++
	}
	if i > 0 {
		clear(p.frags[:i])
		p.frags = p.frags[i:]
		p.cond.Broadcast()
	}
	p.checkPressure()
}

func (p *Producer) checkPressure() {
	d := p.bufferedDuration()
	switch {
	case d > p.cfg.MaxLatency && !p.pressured:
		p.pressured = true
		if cb := p.cfg.OnLatencyPressure; cb != nil {
			p.queued = append(p.queued, func() { cb(d) })
		}
	case d <= p.cfg.MaxLatency/2:
		p.pressured = false
	}
}

// Stats returns the producer's counters.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.BufferedFragments = len(p.frags)
	s.BufferedBytes = p.bytes
	s.BufferedDuration = p.bufferedDuration()
	return s
}

// Close ends the stream: it completes the last fragment, waits until
// every buffered fragment is PERSISTED (or dropped), then stops. When ctx
// ends first the rest is abandoned and an error says how many fragments
// were not persisted. Close returns the producer's fatal error if it
// failed.
func (p *Producer) Close(ctx context.Context) error {
	stop := context.AfterFunc(ctx, p.wake)
	defer stop()
	p.mu.Lock()
	if !p.closing {
		p.closing = true
		p.finishOpen()
		p.cond.Broadcast()
	}
	for len(p.frags) > 0 && p.err == nil && ctx.Err() == nil {
		select {
		case <-p.done:
			// The run loop ended (its context was cancelled).
			if p.err == nil {
				p.err = fmt.Errorf("producer: stopped: %w", context.Canceled)
			}
			continue
		default:
		}
		p.cond.Wait()
	}
	left, err := len(p.frags), p.err
	p.mu.Unlock()
	p.cancel()
	<-p.done
	switch {
	case err != nil:
		return err
	case left > 0:
		return fmt.Errorf("producer: %d fragments not persisted: %w", left, ctx.Err())
	}
	return nil
}

// fail ends the producer with a fatal error.
func (p *Producer) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}
