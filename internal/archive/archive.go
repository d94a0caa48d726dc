// Package archive keeps the fragments of video streams: it numbers them,
// stores them durably for each stream's retention period, indexes them by
// fragment number, producer time and server time, and fans newly received
// fragments out to live readers before they reach the disk.
//
// The embedded implementation here keeps, per stream, append-only segment
// files under Dir/streams/<name>/ (see names.go for how a name becomes a
// directory) whose records carry each fragment's metadata together with
// its Cluster bytes (see segment.go), and an index in memory rebuilt from
// those records when the archive opens. Keeping the index inside the data
// records, rather than in a separate bbolt file, means a fragment and its
// index entry become durable with the same fdatasync: no two-file ordering
// to get right, no reconciliation after a crash (a torn tail is simply cut
// off), and one sync per stream per commit batch instead of a data sync
// plus a bbolt commit (two more syncs). The price is memory
// (about 150 bytes per retained fragment) and a scan of record headers at
// start-up.
//
// Writes are group-committed: a single committer goroutine collects every
// stream with unsynced records and syncs them together (in parallel, so the
// file system merges them into one journal commit); writers wait on a
// channel. A fragment counts as durable (PERSISTED) only after that sync.
//
// Consumers (ingest, playback) declare the few methods they use as small
// interfaces, so that an object-store/SQL implementation can replace this
// one.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the archive.
var (
	// ErrClosed: the archive was closed.
	ErrClosed = errors.New("archive: closed")
	// ErrStreamDeleted: the stream's data was deleted while the call ran.
	ErrStreamDeleted = errors.New("archive: stream deleted")
	// ErrNotFound: no such fragment (never stored, or expired).
	ErrNotFound = errors.New("archive: fragment not found")
	// ErrNoDir: Config.Dir is empty.
	ErrNoDir = errors.New("archive: Config.Dir is required")
	// ErrStorage wraps the file system's error when a fragment could not
	// be stored: the next segment file could not be created, a write
	// failed (ENOSPC, EIO, ...) or the sync did. The archive stays usable:
	// the next fragment is tried afresh.
	ErrStorage = errors.New("archive: storage failure")
)

// File is an open file of the archive: a segment file, or a directory
// opened to sync the entries created in it. *os.File implements it.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// Config configures an Archive.
type Config struct {
	// Dir is the data directory; streams are kept under Dir/streams.
	// Required.
	Dir string
	// Now returns the current time (ingest times, retention). Defaults to
	// time.Now.
	Now func() time.Time
	// Logger receives the archive's logs. Defaults to discarding them.
	Logger *slog.Logger
	// SegmentSize is the size at which a stream's segment file is closed
	// and a new one started. Defaults to 64 MiB.
	SegmentSize int64
	// SegmentDuration is the age at which a segment is closed, so that
	// retention can free space of slow streams. Defaults to 1 hour.
	SegmentDuration time.Duration
	// LiveFragments and LiveBytes bound the per-stream buffer of recently
	// received fragments that live readers are served from (and, for
	// streams without retention, the only copy). Default 16 fragments and
	// 64 MiB. Over them, the oldest fragment is dropped, except the newest
	// and those still being made durable: those are kept whatever the
	// bounds (their bytes are held until their sync anyway), so that a
	// reader following the stream with Next never skips a fragment that
	// becomes durable behind it. A dropped live-only fragment (streams
	// without retention) is gone, as in KVS: a reader that had not reached
	// it continues with the next one still held.
	LiveFragments int
	LiveBytes     int64
	// LiveTotalBytes bounds the live buffers of all streams together.
	// Over it, the oldest live copies of durable fragments are dropped
	// first (they stay readable from disk), then the oldest live-only
	// fragments (streams without retention: they are gone, as in KVS).
	// Fragments still being made durable and each stream's newest fragment
	// are never dropped for this bound. Defaults to 256 MiB.
	LiveTotalBytes int64
	// LiveKeepsDurable keeps the live copy of a fragment after it became
	// durable, within the bounds above. By default the copy is dropped once
	// the fragment is durable, so that an idle stream holds no fragment in
	// memory; readers then read it from its segment file (normally out of
	// the page cache).
	LiveKeepsDurable bool
	// Retention tells the sweeper a stream's retention period; ok=false
	// means the stream no longer exists and its data is deleted. Nil keeps
	// everything.
	Retention func(ctx context.Context, stream string) (retention time.Duration, ok bool, err error)
	// SweepInterval is how often retention is applied in the background.
	// Defaults to 1 minute; negative disables the background sweeper (call
	// Sweep yourself).
	SweepInterval time.Duration
	// MaxParallelSyncs bounds the concurrent fdatasync calls of one commit
	// batch. Defaults to 64.
	MaxParallelSyncs int
	// OpenFile opens the archive's segment files, and its directories to
	// sync them. Defaults to os.OpenFile. A wrapper can observe or inject
	// storage failures (the tests inject EMFILE and ENOSPC with one).
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
}

// Header is what a fragment's Cluster needs to be decoded: the Segment
// Information's timecode scale and the Tracks element (with codec private
// data), as the producer sent them. Fragments of one PutMedia document share
// one *Header.
type Header struct {
	// TimecodeScale is nanoseconds per Cluster/Block tick.
	TimecodeScale uint64
	// Tracks is the raw Tracks element.
	Tracks []byte
}

// Fragment is one stored or received fragment (one MKV Cluster).
type Fragment struct {
	// Number is the fragment number; it also encodes the server
	// timestamp (ServerTime).
	Number Number
	// ProducerTime is the absolute time of the Cluster timecode.
	ProducerTime time.Time
	// Timecode is the Cluster timecode as the producer sent it, in ticks.
	Timecode uint64
	// Duration is the time the fragment's frames cover.
	Duration time.Duration
	// Size is the length of the Cluster bytes.
	Size int64
	// Frames is the number of frames (blocks) in the Cluster.
	Frames int
	// Header decodes the Cluster.
	Header *Header
	// Tags is the raw Tags element the producer sent before the Cluster
	// (fragment metadata), or nil.
	Tags []byte

	cluster []byte    // in-memory copy (live buffer), else nil
	seg     *segment  // where the Cluster bytes are on disk
	off     int64     // offset of the Cluster bytes in seg
	state   liveState // of a live copy; guarded by its stream's mu
}

// liveState is what a fragment in the live buffer is, for eviction.
type liveState uint8

const (
	liveOnly    liveState = iota // never written to disk
	livePending                  // written, not yet synced
	liveDurable                  // synced and indexed
	liveCached                   // read back from disk for readers
)

// ServerTime is when the server started receiving the fragment.
func (f *Fragment) ServerTime() time.Time { return f.Number.Time() }

// Archive is the embedded fragment archive. It is safe for concurrent use.
type Archive struct {
	cfg  Config
	log  *slog.Logger
	dir  string // Dir/streams
	now  func() time.Time
	comm *committer

	mu      sync.Mutex
	closed  bool
	streams map[string]*stream
	numbers numberer

	liveTotal atomic.Int64 // bytes in every stream's live buffer
	trimMu    sync.Mutex   // one global live-buffer trim at a time

	stopSweep chan struct{}
	sweepDone chan struct{}
}

// stream is one stream's state. Lock order: Archive.mu, stream.wmu,
// stream.mu, committer.mu.
type stream struct {
	a    *Archive
	name string
	dir  string

	// wmu guards the write path.
	wmu          sync.Mutex
	cur          *segment
	curCreated   time.Time
	curHeader    *Header
	curHeaderOff int64
	nextSegID    uint64
	unsynced     []*segment
	pending      []pendingWrite
	dirMade      bool
	buf          []byte

	// mu guards what readers see.
	mu         sync.Mutex
	index      []*Fragment // durable, by number
	prodSorted bool        // index is also ordered by ProducerTime
	segs       []*segment
	ring       []*Fragment // live buffer, by number
	ringBytes  int64
	notify     chan struct{}
	deleted    bool
}

type pendingWrite struct {
	f    *Fragment // the durable copy, indexed once synced
	live *Fragment // the copy in the live buffer
	done chan error
}

// Open opens (creating if needed) the archive in cfg.Dir and recovers every
// stream found there: torn record tails are cut off, and the index is rebuilt
// from the records that survived.
func Open(cfg Config) (*Archive, error) {
	if cfg.Dir == "" {
		return nil, ErrNoDir
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SegmentSize <= 0 {
		cfg.SegmentSize = 64 << 20
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = time.Hour
	}
	if cfg.LiveFragments <= 0 {
		cfg.LiveFragments = 16
	}
	if cfg.LiveBytes <= 0 {
		cfg.LiveBytes = 64 << 20
	}
	if cfg.LiveTotalBytes <= 0 {
		cfg.LiveTotalBytes = 256 << 20
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.MaxParallelSyncs <= 0 {
		cfg.MaxParallelSyncs = 64
	}
	if cfg.OpenFile == nil {
		cfg.OpenFile = openOSFile
	}
	a := &Archive{
		cfg:     cfg,
		log:     cfg.Logger,
		dir:     filepath.Join(cfg.Dir, "streams"),
		now:     cfg.Now,
		streams: make(map[string]*stream),
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name, ok := a.streamName(e.Name())
		if !ok {
			continue
		}
		st, err := a.recover(name)
		if err != nil {
			a.closeFiles()
			return nil, fmt.Errorf("archive: recover stream %q: %w", name, err)
		}
		a.streams[name] = st
	}
	a.comm = newCommitter(cfg.MaxParallelSyncs)
	if cfg.SweepInterval > 0 && cfg.Retention != nil {
		a.stopSweep, a.sweepDone = make(chan struct{}), make(chan struct{})
		go a.sweepLoop()
	}
	return a, nil
}

func (a *Archive) newStream(name string) *stream {
	return &stream{a: a, name: name, dir: filepath.Join(a.dir, dirName(name)), nextSegID: 1, prodSorted: true, notify: make(chan struct{})}
}

// recover loads one stream directory.
func (a *Archive) recover(name string) (*stream, error) {
	st := a.newStream(name)
	st.dirMade = true
	ids, err := listSegments(st.dir)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		path := filepath.Join(st.dir, segmentName(id))
		f, err := a.cfg.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		seg := &segment{id: id, path: path, f: f}
		headers := map[int64]*Header{}
		verify := i >= len(ids)-2
		end, err := scanSegment(f, verify, func(r scannedRecord) error {
			switch r.kind {
			case recHeader:
				if len(r.meta) < 8 {
					return nil
				}
				tracks := make([]byte, r.dataLen)
				if _, err := f.ReadAt(tracks, r.dataOff); err != nil {
					return err
				}
				headers[r.off] = &Header{TimecodeScale: beUint64(r.meta), Tracks: tracks}
			case recFragment:
				var m fragMeta
				if m.unmarshal(r.meta) != nil {
					return nil
				}
				h := headers[m.headerOff]
				if h == nil {
					return nil
				}
				fr := &Fragment{
					Number: m.num, ProducerTime: time.Unix(0, m.producer).UTC(), Timecode: m.timecode,
					Duration: time.Duration(m.duration), Size: r.dataLen, Frames: int(m.frames), Header: h,
					seg: seg, off: r.dataOff,
				}
				if m.tagsLen > 0 {
					fr.Tags = append([]byte(nil), r.meta[fragMetaLen:]...)
				}
				st.insertIndex(fr)
				seg.count++
				a.numbers.observe(m.num)
			}
			return nil
		})
		if err != nil {
			f.Close()
			return nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.Size() > end {
			a.log.Warn("archive: cutting torn tail", "stream", name, "segment", seg.path, "durable_end", end, "size", fi.Size())
			if err := f.Truncate(end); err != nil {
				f.Close()
				return nil, err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, err
			}
		}
		seg.size = end
		st.nextSegID = id + 1
		if seg.count == 0 {
			f.Close()
			_ = os.Remove(path)
			continue
		}
		st.segs = append(st.segs, seg)
	}
	return st, nil
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// insertIndex adds f to the index in number order. Callers hold mu (or own
// st exclusively).
func (st *stream) insertIndex(f *Fragment) {
	n := len(st.index)
	if n == 0 || st.index[n-1].Number.Less(f.Number) {
		if n > 0 && f.ProducerTime.Before(st.index[n-1].ProducerTime) {
			st.prodSorted = false
		}
		st.index = append(st.index, f)
		return
	}
	i := sort.Search(n, func(i int) bool { return !st.index[i].Number.Less(f.Number) })
	if i < n && st.index[i].Number == f.Number {
		return
	}
	st.index = append(st.index, nil)
	copy(st.index[i+1:], st.index[i:])
	st.index[i] = f
	st.prodSorted = false
}

// stream returns the state of name, creating an empty one if create is set.
func (a *Archive) stream(name string, create bool) (*stream, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	st := a.streams[name]
	if st == nil && create {
		st = a.newStream(name)
		a.streams[name] = st
	}
	return st, nil
}

// NewNumber returns a fresh fragment number; its time part is the ingest
// time (now, or later if the clock went back).
func (a *Archive) NewNumber() Number {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.numbers.next(a.now())
}

// Put adds fragment f of stream name, whose Cluster bytes are cluster (Put
// keeps a copy). The fragment is visible to Next and Latest at once. When
// durable is set it is also appended to the stream's current segment, and
// the returned channel receives nil once it is fsynced (or the error that
// prevented it); with durable unset the channel is nil and the fragment
// lives only in the live buffer. A fragment that could not be stored is
// taken out of the live buffer before its error is returned (or sent), so
// that readers are not served what the producer is told failed.
func (a *Archive) Put(name string, f *Fragment, cluster []byte, durable bool) (<-chan error, error) {
	if f.Header == nil {
		return nil, errors.New("archive: fragment without header")
	}
	st, err := a.stream(name, true)
	if err != nil {
		return nil, err
	}
	live := *f
	live.cluster = append([]byte(nil), cluster...)
	live.Size = int64(len(cluster))
	live.seg = nil
	live.state = liveOnly
	if durable {
		live.state = livePending
	}
	if err := st.publish(&live, a.cfg.LiveFragments, a.cfg.LiveBytes); err != nil {
		return nil, err
	}
	a.trimLive()
	if !durable {
		return nil, nil
	}
	done := make(chan error, 1)
	if err := st.write(&live, done); err != nil {
		st.mu.Lock()
		st.unpublish(&live)
		st.mu.Unlock()
		return nil, err
	}
	a.comm.enqueue(st)
	return done, nil
}

// publish adds f to the live buffer and wakes waiting readers.
func (st *stream) publish(f *Fragment, maxN int, maxBytes int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deleted {
		return ErrStreamDeleted
	}
	st.addLive(f, maxN, maxBytes)
	close(st.notify)
	st.notify = make(chan struct{})
	return nil
}

// addLive inserts f into the live buffer in number order and applies the
// per-stream bounds. Callers hold mu.
func (st *stream) addLive(f *Fragment, maxN int, maxBytes int64) {
	n := len(st.ring)
	if n == 0 || st.ring[n-1].Number.Less(f.Number) {
		st.ring = append(st.ring, f)
	} else {
		i := sort.Search(n, func(i int) bool { return !st.ring[i].Number.Less(f.Number) })
		st.ring = append(st.ring, nil)
		copy(st.ring[i+1:], st.ring[i:])
		st.ring[i] = f
	}
	st.ringBytes += f.Size
	st.a.liveTotal.Add(f.Size)
	st.bound(maxN, maxBytes)
}

// bound drops the oldest fragments of the live buffer while it holds more
// than maxN fragments or maxBytes, keeping the newest one and those being
// made durable. Callers hold mu.
func (st *stream) bound(maxN int, maxBytes int64) {
	for i := 0; i < len(st.ring)-1 && (len(st.ring) > maxN || st.ringBytes > maxBytes); {
		if st.ring[i].state == livePending {
			i++ // not in the index yet: readers find it only here
			continue
		}
		st.dropLive(i)
	}
}

// unpublish removes f, a fragment that could not be stored, from the live
// buffer, so that readers are no longer served what the producer was told
// failed. Readers waiting for a fragment past it keep waiting for the
// next one. Callers hold mu.
func (st *stream) unpublish(f *Fragment) {
	i := sort.Search(len(st.ring), func(i int) bool { return !st.ring[i].Number.Less(f.Number) })
	for ; i < len(st.ring) && st.ring[i].Number == f.Number; i++ {
		if st.ring[i] == f {
			st.dropLive(i)
			return
		}
	}
}

// dropLive removes the i-th fragment from the live buffer. Callers hold mu.
func (st *stream) dropLive(i int) {
	size := st.ring[i].Size
	st.ringBytes -= size
	st.a.liveTotal.Add(-size)
	copy(st.ring[i:], st.ring[i+1:])
	st.ring[len(st.ring)-1] = nil
	st.ring = st.ring[:len(st.ring)-1]
}

// write appends f to the current segment.
func (st *stream) write(f *Fragment, done chan error) error {
	a := st.a
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.mu.Lock()
	deleted := st.deleted
	st.mu.Unlock()
	if deleted {
		return ErrStreamDeleted
	}
	recLen := int64(recHdrLen + fragMetaLen + len(f.Tags) + len(f.cluster))
	now := a.now()
	if st.cur == nil || (st.cur.size > 0 && st.cur.size+recLen > a.cfg.SegmentSize) || now.Sub(st.curCreated) > a.cfg.SegmentDuration {
		if err := st.roll(now); err != nil {
			return err
		}
	}
	seg := st.cur
	if st.curHeader != f.Header {
		var meta [8]byte
		for i := range 8 {
			meta[i] = byte(f.Header.TimecodeScale >> (56 - 8*i))
		}
		rec := appendRecord(st.buf[:0], recHeader, meta[:], f.Header.Tracks)
		rec = append(rec, f.Header.Tracks...)
		st.buf = rec[:0]
		if _, err := seg.f.WriteAt(rec, seg.size); err != nil {
			st.cutTail(seg)
			return fmt.Errorf("%w: write header: %w", ErrStorage, err)
		}
		st.curHeader, st.curHeaderOff = f.Header, seg.size
		seg.size += int64(len(rec))
	}
	m := fragMeta{
		num: f.Number, producer: f.ProducerTime.UnixNano(), duration: int64(f.Duration), timecode: f.Timecode,
		frames: uint32(f.Frames), tagsLen: uint32(len(f.Tags)), headerOff: st.curHeaderOff,
	}
	meta := append(m.marshal(make([]byte, 0, fragMetaLen+len(f.Tags))), f.Tags...)
	rec := appendRecord(st.buf[:0], recFragment, meta, f.cluster)
	st.buf = rec[:0]
	if _, err := seg.f.WriteAt(rec, seg.size); err != nil {
		st.cutTail(seg)
		return fmt.Errorf("%w: write fragment: %w", ErrStorage, err)
	}
	if _, err := seg.f.WriteAt(f.cluster, seg.size+int64(len(rec))); err != nil {
		st.cutTail(seg)
		return fmt.Errorf("%w: write fragment: %w", ErrStorage, err)
	}
	stored := *f
	stored.cluster = nil
	stored.seg = seg
	stored.off = seg.size + int64(len(rec))
	seg.size += int64(len(rec)) + int64(len(f.cluster))
	st.mu.Lock()
	seg.count++
	st.mu.Unlock()
	st.pending = append(st.pending, pendingWrite{f: &stored, live: f, done: done})
	return nil
}

// cutTail drops what a failed write may have left past the end of seg's
// records, so that the space is free again and no stale bytes follow the
// next record. A failure is only logged: the next record overwrites the
// stale bytes anyway, and recovery cuts a torn tail. Callers hold wmu.
func (st *stream) cutTail(seg *segment) {
	if err := seg.f.Truncate(seg.size); err != nil {
		st.a.log.Warn("archive: cut failed write", "segment", seg.path, "err", err)
	}
}

// roll seals the current segment (it is synced with the next batch) and
// starts a new one. On failure the current segment stays as it was, and
// the next call tries a new file name: a failed attempt may have left its
// file behind. Callers hold wmu.
func (st *stream) roll(now time.Time) error {
	a := st.a
	if !st.dirMade {
		if err := st.makeDir(); err != nil {
			return fmt.Errorf("%w: stream directory: %w", ErrStorage, err)
		}
		st.dirMade = true
	}
	id := st.nextSegID
	st.nextSegID++
	path := filepath.Join(st.dir, segmentName(id))
	f, err := a.cfg.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: new segment: %w", ErrStorage, err)
	}
	if err := a.syncDir(st.dir); err != nil {
		f.Close()
		if e := os.Remove(path); e != nil {
			a.log.Warn("archive: remove unused segment", "path", path, "err", e)
		}
		return fmt.Errorf("%w: new segment: %w", ErrStorage, err)
	}
	seg := &segment{id: id, path: path, f: f}
	if st.cur != nil {
		st.unsynced = append(st.unsynced, st.cur)
	}
	st.cur, st.curCreated, st.curHeader = seg, now, nil
	st.mu.Lock()
	st.segs = append(st.segs, seg)
	st.mu.Unlock()
	return nil
}

// flush makes every pending write durable and indexes it. The committer
// calls it.
func (st *stream) flush() {
	st.wmu.Lock()
	pend := st.pending
	st.pending = nil
	files := st.unsynced
	st.unsynced = nil
	if st.cur != nil && len(pend) > 0 {
		files = append(files, st.cur)
	}
	st.wmu.Unlock()
	if len(pend) == 0 && len(files) == 0 {
		return
	}
	var err error
	for _, seg := range files {
		seg.syncMu.Lock()
		if e := seg.f.Sync(); e != nil && err == nil {
			err = fmt.Errorf("%w: sync %s: %w", ErrStorage, filepath.Base(seg.path), e)
		}
		seg.syncMu.Unlock()
	}
	st.mu.Lock()
	if st.deleted && err == nil {
		err = ErrStreamDeleted
	}
	for _, p := range pend {
		if err != nil {
			st.unpublish(p.live)
			continue
		}
		st.insertIndex(p.f)
		p.live.state = liveDurable
	}
	switch {
	case err != nil:
	case st.a.cfg.LiveKeepsDurable:
		// Kept beyond the bounds while they were pending.
		st.bound(st.a.cfg.LiveFragments, st.a.cfg.LiveBytes)
	default:
		// Readers find these in the index now, and read them from disk
		// (ReadCluster keeps a copy of recent ones while they are read).
		for i := 0; i < len(st.ring); {
			if st.ring[i].state == liveDurable {
				st.dropLive(i)
				continue
			}
			i++
		}
	}
	st.mu.Unlock()
	if err != nil {
		st.a.log.Error("archive: commit failed", "stream", st.name, "err", err)
	}
	for _, p := range pend {
		p.done <- err
	}
}

// DeleteStream deletes every fragment of the stream and its directory.
// Writers still running get ErrStreamDeleted; readers get ErrNotFound.
func (a *Archive) DeleteStream(name string) error {
	a.mu.Lock()
	st := a.streams[name]
	delete(a.streams, name)
	a.mu.Unlock()
	if st == nil {
		err := os.RemoveAll(filepath.Join(a.dir, dirName(name)))
		return err
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.mu.Lock()
	st.deleted = true
	for _, seg := range st.segs {
		seg.removed = true
		if seg.refs == 0 {
			seg.f.Close()
		}
	}
	a.liveTotal.Add(-st.ringBytes)
	st.segs, st.index, st.ring, st.ringBytes = nil, nil, nil, 0
	close(st.notify)
	st.notify = make(chan struct{})
	st.mu.Unlock()
	st.cur, st.unsynced = nil, nil
	if err := os.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("archive: delete %q: %w", name, err)
	}
	return nil
}

// Close stops the sweeper, makes pending writes durable and closes every
// file. Later calls return ErrClosed.
func (a *Archive) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.closed = true
	a.mu.Unlock()
	if a.stopSweep != nil {
		close(a.stopSweep)
		<-a.sweepDone
	}
	a.comm.close()
	a.closeFiles()
	return nil
}

func (a *Archive) closeFiles() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range a.streams {
		st.mu.Lock()
		for _, seg := range st.segs {
			seg.f.Close()
		}
		st.mu.Unlock()
	}
}
