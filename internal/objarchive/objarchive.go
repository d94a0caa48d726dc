// Package objarchive is the fragment archive of cluster mode: fragments in
// an S3-compatible object store (any blob.Bucket) and their index in
// PostgreSQL, so that ListFragments, GetMedia, GetMediaForFragmentList and
// HLS/DASH on any node see every persisted fragment, whichever node
// received it. It implements the same methods as the embedded
// internal/archive (the consumer interfaces of ingest and playback).
//
// # Durability: what PERSISTED means
//
// A fragment is acknowledged as durable (the channel Put returns receives
// nil, and ingest sends PERSISTED) only after the object store confirmed
// the write of the object holding it AND its index row was committed in
// PostgreSQL. There is no local write-ahead copy: a node is stateless and
// may be lost with its disk at any time, so a copy that exists only on
// that node's disk would not keep the promise KVS makes with PERSISTED.
// Until the ack the producer keeps the fragment and resends it (to
// another node) if the connection breaks. The object is written before
// its row, so the index never names a missing object; a node dying in
// between leaves an unindexed object, which DeleteStream's listing
// removes.
//
// # Batching
//
// Each stream has one upload worker. Fragments that arrive while an upload
// is running are written together as one object on the next round (at
// most MaxBatchBytes), with one index transaction for all of them: under
// load the number of object writes and commits per stream stays near one
// per upload latency instead of one per fragment, and on a quiet stream a
// fragment is written alone, at once.
//
// # Fragment numbers
//
// A number is the server time in milliseconds and a sequence whose low 16
// bits are the node's id (unique per node start, from a PostgreSQL
// sequence, modulo 2^16), so two nodes never hand out the same number.
// Each node's numbers never decrease, also across restarts (they start
// above the newest number ever indexed). Across nodes, numbers of one
// stream increase as long as the nodes' clocks differ by less than a
// producer needs to move from one node to another; the index insert checks
// it against the stream's head (the newest number indexed, a row whose
// lock serializes the stream's inserts cluster-wide, in the same
// statement): a fragment numbered below is refused (ErrNumberBehind, the
// producer resends it) and the node's numbering jumps past the head, so
// the resent fragment is numbered in order.
//
// # Live readers
//
// Fragments received on this node are kept in a small per-stream buffer, so
// that readers on this node follow them before they are durable; readers
// waiting for the next fragment are woken by this node's Put, and poll the
// index every PollInterval for fragments persisted by other nodes.
package objarchive

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/blob"
	"github.com/openkvs/openkvs/internal/bus"
)

// ErrNumberBehind is returned (wrapped, through Put's channel) for a
// fragment whose number is not above the newest indexed fragment of its
// stream (another node's clock is ahead); see the package documentation.
var ErrNumberBehind = errors.New("objarchive: fragment number not above the stream's last")

// Config configures Open.
type Config struct {
	// URL is the PostgreSQL connection URL of the fragment index (the
	// catalog's database). Required.
	URL string
	// Schema holds the index tables; it must exist. Defaults to "public".
	Schema string
	// Bucket stores the fragments. Required.
	Bucket blob.Bucket
	// Now returns the current time (numbers, retention). Defaults to
	// time.Now.
	Now func() time.Time
	// Logger receives the archive's logs. Defaults to discarding them.
	Logger *slog.Logger
	// LiveFragments and LiveBytes bound each stream's buffer of fragments
	// received on this node. Defaults: 16 fragments, 64 MiB; fragments
	// still being uploaded are always kept.
	LiveFragments int
	LiveBytes     int64
	// KeepDurable is how many durable fragments per stream the buffer
	// keeps as a read cache for this node's live readers (the others are
	// read from the object store). Defaults to none, as in the embedded
	// archive, so that an idle stream holds no fragment in memory.
	KeepDurable int
	// PollInterval is how often a reader waiting at a stream's end looks
	// for fragments persisted by other nodes. Defaults to 100 ms.
	PollInterval time.Duration
	// MaxBatchBytes bounds the fragments written as one object. Defaults
	// to 8 MiB.
	MaxBatchBytes int64
	// UploadTimeout bounds one object write plus its index commit.
	// Defaults to 30 s.
	UploadTimeout time.Duration
	// Bus, when set, carries received fragments to the other nodes' live
	// buffers (fanout.go), so that their live readers need not wait for
	// the object store and the index.
	Bus bus.Bus
	// Retention tells the sweeper a stream's retention period; ok=false
	// means the stream no longer exists and its data is deleted. Nil keeps
	// everything.
	Retention func(ctx context.Context, stream string) (retention time.Duration, ok bool, err error)
	// SweepInterval is how often retention is applied in the background.
	// Defaults to 1 minute; negative disables the background sweeper.
	SweepInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("objarchive: Config.URL is required")
	}
	if c.Bucket == nil {
		return errors.New("objarchive: Config.Bucket is required")
	}
	if c.Schema == "" {
		c.Schema = "public"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.LiveFragments <= 0 {
		c.LiveFragments = 16
	}
	if c.LiveBytes <= 0 {
		c.LiveBytes = 64 << 20
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 8 << 20
	}
	if c.UploadTimeout <= 0 {
		c.UploadTimeout = 30 * time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	return nil
}

// Archive is the cluster fragment archive. It is safe for concurrent use.
type Archive struct {
	cfg    Config
	log    *slog.Logger
	bucket blob.Bucket
	idx    *index

	mu      sync.Mutex
	closed  bool
	numbers numberer
	streams map[string]*stream

	headers headerCache
	uploads sync.WaitGroup
	stop    chan struct{}
	loops   sync.WaitGroup // sweeper, follow janitor
	origin  uint64         // tells this node's live messages from others'

	interest interestSet      // streams other nodes follow (interest.go)
	wantSub  bus.Subscription // to their announcements
}

// stream is this node's state of one stream.
type stream struct {
	name   string
	mu     sync.Mutex
	ring   []*live // received on this node, number order
	notify chan struct{}
	poll   *time.Timer // closes notify for readers polling the index
	queue  []*pending
	busy   bool          // an upload worker runs
	idle   chan struct{} // closed when that worker ends
	gone   bool          // deleted

	lastPut  archive.Number   // the last fragment this node received (fanout.go)
	sub      bus.Subscription // to other nodes' live fragments, while read
	lastRead time.Time        // of a reader waiting here, for the janitor
}

// live is a fragment in the live buffer.
//
// Once durable, a fragment is in the index, which is the truth for
// metadata (another node may delete it); its entry here then only caches
// the Cluster bytes.
type live struct {
	f       *archive.Fragment
	cluster []byte
	pending bool // being uploaded
	durable bool // uploaded and indexed

	remote bool           // received by another node, heard on the bus
	prev   archive.Number // for remote: what that node received before
	at     time.Time      // for remote: when it was heard
}

// pending is a fragment waiting for its upload.
type pending struct {
	l    *live
	done chan error
}

// Open connects to the index database (creating or upgrading its tables)
// and starts the sweeper.
func Open(ctx context.Context, cfg Config) (*Archive, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	idx, err := openIndex(ctx, cfg.URL, cfg.Schema)
	if err != nil {
		return nil, err
	}
	node, last, err := idx.register(ctx)
	if err != nil {
		idx.close()
		return nil, err
	}
	a := &Archive{
		cfg: cfg, log: cfg.Logger, bucket: cfg.Bucket, idx: idx,
		numbers: numberer{node: node},
		streams: make(map[string]*stream),
		stop:    make(chan struct{}),
		origin:  randomOrigin(),
	}
	a.numbers.observe(last)
	a.log.Info("cluster archive opened", "node", node)
	if cfg.SweepInterval > 0 {
		a.loops.Go(a.sweepLoop)
	}
	if cfg.Bus != nil {
		if err := a.watchInterest(ctx); err != nil {
			close(a.stop)
			a.loops.Wait()
			idx.close()
			return nil, fmt.Errorf("objarchive: watch live readers: %w", err)
		}
		a.loops.Go(a.followLoop)
	}
	return a, nil
}

// Close stops the sweeper, waits for running uploads and closes the index
// connections.
func (a *Archive) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	a.loops.Wait()
	if a.wantSub != nil {
		_ = a.wantSub.Unsubscribe()
	}
	for _, st := range a.streamList() {
		a.unfollow(st)
	}
	a.uploads.Wait()
	a.idx.close()
	return nil
}

// stream returns this node's state of name, creating it if create is set.
func (a *Archive) stream(name string, create bool) (*stream, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, archive.ErrClosed
	}
	st := a.streams[name]
	if st == nil && create {
		st = &stream{name: name, notify: make(chan struct{})}
		a.streams[name] = st
	}
	return st, nil
}

// streamList returns this node's streams.
func (a *Archive) streamList() []*stream {
	a.mu.Lock()
	defer a.mu.Unlock()
	streams := make([]*stream, 0, len(a.streams))
	for _, st := range a.streams {
		streams = append(streams, st)
	}
	return streams
}

// NewNumber returns a fresh fragment number (see the package
// documentation).
func (a *Archive) NewNumber() archive.Number {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.numbers.next(a.cfg.Now())
}

// Put adds fragment f of stream name, whose Cluster bytes are cluster (Put
// keeps a copy). The fragment is visible to this node's readers at once.
// When durable is set it is uploaded, and the returned channel receives
// nil once the object store confirmed it and its index row is committed
// (or the error that prevented it).
func (a *Archive) Put(name string, f *archive.Fragment, cluster []byte, durable bool) (<-chan error, error) {
	if f.Header == nil {
		return nil, errors.New("objarchive: fragment without header")
	}
	st, err := a.stream(name, true)
	if err != nil {
		return nil, err
	}
	c := *f
	c.Size = int64(len(cluster))
	l := &live{f: &c, cluster: append([]byte(nil), cluster...), pending: durable}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return nil, archive.ErrStreamDeleted
	}
	if durable && !st.busy {
		// Checked together with Add, so that Close's Wait never races
		// a new upload worker.
		a.mu.Lock()
		closed := a.closed
		if !closed {
			a.uploads.Add(1)
		}
		a.mu.Unlock()
		if closed {
			return nil, archive.ErrClosed
		}
		st.busy, st.idle = true, make(chan struct{})
		go a.uploadLoop(st)
	}
	st.add(l)
	st.trim(a.cfg)
	st.wake()
	a.publish(st, &c, l.cluster)
	if !durable {
		return nil, nil
	}
	done := make(chan error, 1)
	st.queue = append(st.queue, &pending{l: l, done: done})
	return done, nil
}

// add inserts l into the ring in number order. Callers hold mu.
func (st *stream) add(l *live) {
	i := len(st.ring)
	for i > 0 && l.f.Number.Less(st.ring[i-1].f.Number) {
		i--
	}
	st.ring = append(st.ring, nil)
	copy(st.ring[i+1:], st.ring[i:])
	st.ring[i] = l
}

// trim drops the oldest entries beyond the buffer's bounds, durable ones
// first (they are in the index), and durable ones beyond KeepDurable;
// entries being uploaded and the newest live-only entry (the only copy of
// a stream without retention) stay. Callers hold mu.
func (st *stream) trim(cfg Config) {
	var total int64
	durable := 0
	for _, e := range st.ring {
		total += int64(len(e.cluster))
		if e.durable {
			durable++
		}
	}
	over := func() bool { return len(st.ring) > cfg.LiveFragments || total > cfg.LiveBytes }
	for _, durableOnly := range []bool{true, false} {
		for j := 0; j < len(st.ring); {
			e := st.ring[j]
			newestLive := j == len(st.ring)-1 && !e.durable && !e.remote
			drop := !e.pending && !newestLive && (!durableOnly || e.durable) &&
				(over() || (e.durable && durable > max(cfg.KeepDurable, 0)))
			if !drop {
				j++
				continue
			}
			total -= int64(len(e.cluster))
			if e.durable {
				durable--
			}
			st.ring = append(st.ring[:j], st.ring[j+1:]...)
		}
	}
}

// wake tells waiting readers to look again. Callers hold mu.
func (st *stream) wake() {
	close(st.notify)
	st.notify = make(chan struct{})
	if st.poll != nil {
		st.poll.Stop()
		st.poll = nil
	}
}

// uploadLoop writes the stream's queued fragments, a batch at a time, until
// the queue is empty.
func (a *Archive) uploadLoop(st *stream) {
	defer a.uploads.Done()
	for {
		st.mu.Lock()
		var batch []*pending
		var size int64
		for len(st.queue) > 0 && (len(batch) == 0 || size+int64(len(st.queue[0].l.cluster)) <= a.cfg.MaxBatchBytes) {
			size += int64(len(st.queue[0].l.cluster))
			batch = append(batch, st.queue[0])
			st.queue = st.queue[1:]
		}
		if len(batch) == 0 {
			st.busy = false
			close(st.idle)
			st.mu.Unlock()
			return
		}
		gone := st.gone
		st.mu.Unlock()
		err := archive.ErrStreamDeleted
		if !gone {
			err = a.upload(st.name, batch)
		}
		st.mu.Lock()
		for _, p := range batch {
			p.l.pending = false
			p.l.durable = err == nil
			p.done <- err
		}
		st.mu.Unlock()
	}
}

// upload writes one batch as one object and indexes its fragments.
func (a *Archive) upload(stream string, batch []*pending) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.UploadTimeout)
	defer cancel()
	key := objectKey(stream, batch[0].l.f.Number)
	var size int64
	for _, p := range batch {
		size += int64(len(p.l.cluster))
	}
	rows := make([]row, len(batch))
	var off int64
	for i, p := range batch {
		rows[i] = row{f: p.l.f, object: key, off: off}
		off += int64(len(p.l.cluster))
	}
	// The object's body reads the fragments where they are (the live
	// buffer keeps them until they are durable): no second copy of a
	// batch, which under a slow store holds up to MaxBatchBytes per stream.
	parts := make([][]byte, len(batch))
	for i, p := range batch {
		parts[i] = p.l.cluster
	}
	body := &partsReader{parts: parts, size: size}
	end := batch[len(batch)-1].l.f.Number.Millis
	for i := range rows {
		rows[i].objectEnd = end
	}
	if err := a.bucket.Put(ctx, key, body, size); err != nil {
		a.log.Error("objarchive: write fragments", "stream", stream, "object", key, "err", err)
		return fmt.Errorf("objarchive: write %s: %w", key, err)
	}
	last, err := a.idx.insert(ctx, stream, rows)
	if errors.Is(err, ErrNumberBehind) {
		a.mu.Lock()
		a.numbers.observe(last)
		a.mu.Unlock()
		_ = a.bucket.Delete(ctx, key)
	}
	if err != nil {
		a.log.Error("objarchive: index fragments", "stream", stream, "object", key, "err", err)
		return err
	}
	return nil
}

// objectKey names the object whose first fragment is n. Stream names may
// be "." or "..", which are no valid key segment: the prefix "s_" makes
// every name one.
func objectKey(stream string, n archive.Number) string {
	return "s_" + stream + "/" + n.String()
}

// streamPrefix is the key prefix of every object of stream.
func streamPrefix(stream string) string { return "s_" + stream + "/" }

// numberer hands out numbers that never decrease on this node (see the
// package documentation).
type numberer struct {
	node uint64
	last archive.Number
}

const nodeBits = 16

func (g *numberer) next(now time.Time) archive.Number {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms > g.last.Millis {
		g.last = archive.Number{Millis: ms, Seq: g.node}
	} else {
		g.last.Seq = (g.last.Seq>>nodeBits+1)<<nodeBits | g.node
	}
	return g.last
}

// observe makes later numbers greater than n.
func (g *numberer) observe(n archive.Number) {
	if g.last.Less(n) {
		g.last = archive.Number{Millis: n.Millis, Seq: n.Seq | (1<<nodeBits - 1)}
	}
}

// headerCache shares one *archive.Header among the fragments read from the
// index that have the same header.
type headerCache struct {
	mu sync.Mutex
	m  map[string]*archive.Header
}

func (c *headerCache) get(scale uint64, tracks []byte) *archive.Header {
	key := fmt.Sprintf("%d/%s", scale, tracks)
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.m[key]; h != nil {
		return h
	}
	if c.m == nil || len(c.m) > 4096 {
		c.m = make(map[string]*archive.Header)
	}
	h := &archive.Header{TimecodeScale: scale, Tracks: tracks}
	c.m[key] = h
	return h
}

// randomOrigin returns a random id for this Archive's live messages.
func randomOrigin() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
