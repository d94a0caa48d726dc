package ingest

import (
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/mkv"
)

// stopReason says why a connection was told to stop reading.
type stopReason int32

const (
	stopNone stopReason = iota
	stopTakenOver
	stopDeleted
	stopClosing
	stopMaxDuration
	stopAckFailed
)

// conn is one PutMedia connection.
type conn struct {
	s          *Service
	stream     string
	rc         *http.ResponseController
	reason     atomic.Int32
	acks       chan ack
	readerDone chan struct{}
	// id and started identify the connection to the other nodes of a
	// cluster (cluster.go); set by register.
	id      uint64
	started time.Time
}

func (c *conn) stop(r stopReason) {
	if c.reason.CompareAndSwap(int32(stopNone), int32(r)) {
		// Unblock the body read.
		_ = c.rc.SetReadDeadline(time.Now())
	}
}

func (c *conn) stopped() stopReason { return stopReason(c.reason.Load()) }

// putMedia serves PutMedia: POST /putMedia with a streaming MKV body.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_dataplane_PutMedia.html
func (s *Service) putMedia(w http.ResponseWriter, r *http.Request) {
	st, err := s.resolveStream(r)
	if err != nil {
		reject(w, r, err)
		return
	}
	relative := false
	switch tt := strings.ToUpper(r.Header.Get("x-amzn-fragment-timecode-type")); tt {
	case "", "ABSOLUTE":
	case "RELATIVE":
		relative = true
	default:
		reject(w, r, awsapi.Errorf(awsapi.InvalidArgument, "x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE, not %q.", tt))
		return
	}
	var startTS time.Time
	if v := r.Header.Get("x-amzn-producer-start-timestamp"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 || math.IsInf(secs, 0) || secs > 1e11 {
			reject(w, r, awsapi.Errorf(awsapi.InvalidArgument, "x-amzn-producer-start-timestamp %q is not epoch seconds.", v))
			return
		}
		startTS = time.Unix(0, int64(math.Round(secs*1e3))*int64(time.Millisecond))
	} else if relative {
		reject(w, r, awsapi.Errorf(awsapi.InvalidArgument, "x-amzn-producer-start-timestamp is required with RELATIVE fragment timecodes."))
		return
	}
	ackRequired := true
	switch r.Header.Get("x-amzn-fragment-acknowledgment-required") {
	case "0", "false", "FALSE", "False":
		ackRequired = false
	}

	c := &conn{s: s, stream: st.Name, rc: http.NewResponseController(w), acks: make(chan ack, 64), readerDone: make(chan struct{})}
	if err := s.register(c); err != nil {
		reject(w, r, err)
		return
	}
	defer s.unregister(c)
	if s.cfg.Bus != nil {
		s.announce(c)
	}
	log := s.log.With("stream", st.Name, "request_id", awsapi.RequestIDFrom(r.Context()))
	log.Debug("putmedia: connected", "retention_hours", st.DataRetentionInHours)

	// Acks flow while the body is still being read (HTTP/1.1 needs this
	// switched on; HTTP/2 is full duplex anyway).
	_ = c.rc.EnableFullDuplex()
	w.Header().Set("Content-Type", "application/json")
	if r.ProtoMajor == 1 {
		// endResponse closes the connection; say so, so that clients do
		// not put it back in their pool.
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)
	_ = c.rc.Flush()

	maxDur := time.AfterFunc(s.cfg.MaxConnectionDuration, func() { c.stop(stopMaxDuration) })
	defer maxDur.Stop()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeAcks(w, ackRequired)
	}()
	in := &ingestor{
		c: c, retain: st.DataRetentionInHours > 0, relative: relative, start: startTS,
		body: &idleReader{r: r.Body, c: c, idle: s.cfg.IdleTimeout},
	}
	in.run()
	close(c.readerDone)
	close(c.acks)
	<-writerDone
	endResponse(w, r)
	log.Debug("putmedia: done", "fragments", in.fragments, "bytes", in.body.n, "stop", c.stopped())
}

// reject answers a PutMedia that is refused before streaming starts. The
// connection is closed after the error: net/http would otherwise wait for
// the producer's endless body before replying.
func reject(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	awsapi.WriteError(w, r, err)
}

// endResponse ends an HTTP/1.1 PutMedia response and its connection
// itself: it writes the last chunk, closes the sending side and discards
// what the producer still sends for a moment before closing (so that the
// last acks are not lost to a TCP reset). A PutMedia connection is never
// reused, and net/http, left to finish a full-duplex request whose body was
// not read to its end, would read on after the handler returned and race
// with its read of the next request. HTTP/2 streams end normally.
func endResponse(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return
	}
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap() // past wrappers that would count the hijack as a status 101
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Now().Add(lingerTimeout))
	_, _ = brw.WriteString("0\r\n\r\n")
	cw, ok := nc.(interface{ CloseWrite() error })
	if brw.Flush() != nil || !ok {
		_ = nc.Close()
		return
	}
	_ = cw.CloseWrite()
	go func() { // bounded by the deadline; the handler need not wait
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, maxLingerBytes))
		_ = nc.Close()
	}()
}

// lingerTimeout and maxLingerBytes bound how long and how much endResponse
// reads after the response ended.
const (
	lingerTimeout  = 2 * time.Second
	maxLingerBytes = 4 << 20
)

// idleReader reads the request body, closing it when no data arrives for
// idle or when the connection is told to stop.
type idleReader struct {
	r    io.Reader
	c    *conn
	idle time.Duration
	set  time.Time
	n    int64
}

var errStopped = errors.New("ingest: connection stopped")

func (b *idleReader) Read(p []byte) (int, error) {
	if b.c.stopped() != stopNone {
		return 0, errStopped
	}
	if now := time.Now(); now.Sub(b.set) > b.idle/8 {
		_ = b.c.rc.SetReadDeadline(now.Add(b.idle))
		b.set = now
		if b.c.stopped() != stopNone { // raced with stop
			_ = b.c.rc.SetReadDeadline(now)
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// ingestor turns the MKV body into fragments.
type ingestor struct {
	c        *conn
	body     *idleReader
	retain   bool
	relative bool
	start    time.Time

	header    *archive.Header
	tags      []byte // raw Tags elements since the last Cluster
	numTags   int    // producer metadata tags in them
	fragments int

	// Current fragment (between ClusterStart and Cluster).
	inCluster bool
	num       archive.Number
	tcMillis  uint64
	producer  time.Time

	// Last fragment.
	haveLast     bool
	lastProducer time.Time
	lastTC       uint64
}

func (in *ingestor) send(a ack) { in.c.acks <- a }

// fail sends an ERROR ack for the current (or last) fragment.
func (in *ingestor) fail(id ErrorID) {
	a := ack{event: eventError, errID: id}
	if in.inCluster {
		a.timecode, a.hasTC, a.number = in.tcMillis, true, in.num.String()
	} else if in.haveLast {
		a.timecode, a.hasTC = in.lastTC, true
	}
	in.send(a)
}

func (in *ingestor) run() {
	cfg := &in.c.s.cfg
	rd := mkv.NewReader(in.body, mkv.ReaderConfig{MaxClusterSize: cfg.MaxFragmentSize, BufferSize: 16 << 10})
	for {
		ev, err := rd.Next()
		if err != nil {
			in.readError(err)
			return
		}
		switch ev {
		case mkv.EventHeader:
			in.header, in.tags, in.numTags = nil, nil, 0
		case mkv.EventTracks:
			tr := rd.Tracks()
			if len(tr.Entries) > cfg.MaxTracks {
				in.fail(MoreThanAllowedTracksFound)
				return
			}
			in.header = &archive.Header{TimecodeScale: rd.Info().TimecodeScale, Tracks: append([]byte(nil), tr.Raw...)}
		case mkv.EventTags:
			// The KVS producer SDK writes one Tags element per metadata
			// item, all before the Cluster they belong to: every Tags
			// element since the last Cluster is kept, in order.
			tags := rd.Tags()
			for _, t := range tags.Tags {
				if len(t.Targets.TrackUIDs) > 0 {
					continue // per-track tags (muxers write these) are not fragment metadata
				}
				for _, st := range t.SimpleTags {
					if !mkv.IsReservedTagName(st.Name) {
						in.numTags++
					}
				}
			}
			if in.numTags > cfg.MaxFragmentTags {
				in.fail(FragmentMetadataLimitReached)
				return
			}
			in.tags = append(in.tags, tags.Raw...)
		case mkv.EventClusterStart:
			if !in.clusterStart(rd) {
				return
			}
		case mkv.EventCluster:
			if !in.cluster(rd) {
				return
			}
		}
	}
}

func (in *ingestor) clusterStart(rd *mkv.Reader) bool {
	c := rd.Cluster()
	scale := in.header.TimecodeScale
	if scale == 0 || c.Timecode > math.MaxInt64/scale {
		in.fail(InvalidProducerTimestamp)
		return false
	}
	ns := int64(c.Timecode * scale)
	in.tcMillis = uint64(ns / int64(time.Millisecond))
	var producer time.Time
	if in.relative {
		producer = in.start.Add(time.Duration(ns))
	} else {
		producer = time.Unix(0, ns)
	}
	if ahead := in.c.s.cfg.MaxProducerTimestampAhead; ahead >= 0 && producer.Sub(in.c.s.cfg.Now()) > ahead {
		in.send(ack{event: eventError, errID: InvalidProducerTimestamp, timecode: in.tcMillis, hasTC: true})
		return false
	}
	if in.haveLast && producer.Before(in.lastProducer) {
		in.inCluster = true
		in.num = archive.Number{}
		a := ack{event: eventError, errID: FragmentTimecodeLesserThanPrev, timecode: in.tcMillis, hasTC: true}
		in.send(a)
		return false
	}
	in.inCluster = true
	in.producer = producer
	in.num = in.c.s.cfg.Archive.NewNumber()
	in.send(ack{event: eventBuffering, timecode: in.tcMillis, hasTC: true, number: in.num.String()})
	return true
}

func (in *ingestor) cluster(rd *mkv.Reader) bool {
	cfg := &in.c.s.cfg
	c := rd.Cluster()
	if !framesForEveryTrack(c, rd.Tracks()) {
		in.fail(FramesMissingForTrack)
		return false
	}
	dur := c.Duration(rd.Tracks(), in.header.TimecodeScale)
	if dur > cfg.MaxFragmentDuration {
		in.fail(MaxFragmentDurationReached)
		return false
	}
	f := &archive.Fragment{
		Number: in.num, ProducerTime: in.producer, Timecode: c.Timecode, Duration: dur,
		Frames: len(c.Frames), Header: in.header, Tags: in.tags,
	}
	done, err := cfg.Archive.Put(in.c.stream, f, c.Raw, in.retain)
	if err != nil {
		switch {
		case errors.Is(err, archive.ErrStreamDeleted):
			in.fail(StreamNotActive)
		case errors.Is(err, archive.ErrStorage):
			// Disk full, out of file descriptors, I/O error: KVS'
			// "failed to archive" error.
			in.c.s.log.Error("ingest: store fragment", "stream", in.c.stream, "err", err)
			in.fail(ArchivalError)
		default:
			in.c.s.log.Error("ingest: store fragment", "stream", in.c.stream, "err", err)
			in.fail(InternalError)
		}
		return false
	}
	in.send(ack{event: eventReceived, timecode: in.tcMillis, hasTC: true, number: in.num.String(), durable: done})
	in.fragments++
	in.inCluster, in.tags, in.numTags = false, nil, 0
	in.haveLast, in.lastProducer, in.lastTC = true, in.producer, in.tcMillis
	return true
}

// framesForEveryTrack reports whether the Cluster has a frame of each track
// in Tracks, as KVS requires of a fragment (FRAMES_MISSING_FOR_TRACK).
func framesForEveryTrack(c *mkv.Cluster, tracks *mkv.Tracks) bool {
	if tracks == nil {
		return true
	}
	for _, tr := range tracks.Entries {
		found := false
		for i := range c.Frames {
			if c.Frames[i].Track == tr.Number {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// readError ends the stream: cleanly at EOF, else with the ERROR ack KVS
// sends for the condition.
func (in *ingestor) readError(err error) {
	switch in.c.stopped() {
	case stopTakenOver, stopClosing, stopAckFailed:
		return
	case stopDeleted:
		in.fail(StreamNotActive)
		return
	case stopMaxDuration:
		in.fail(MaxConnectionDurationReached)
		return
	}
	switch {
	case errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		if in.inCluster {
			in.fail(InvalidMKVData)
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Idle: no data for IdleTimeout. Close quietly; the producer
		// reconnects.
	case errors.Is(err, mkv.ErrTooLarge):
		in.fail(MaxFragmentSizeReached)
	case errors.Is(err, mkv.ErrUnknownTrack):
		in.fail(TrackNumberMismatch)
	case errors.Is(err, mkv.ErrInvalid), errors.Is(err, mkv.ErrTruncated), errors.Is(err, mkv.ErrTooDeep),
		errors.Is(err, mkv.ErrLacing), errors.Is(err, mkv.ErrUnsupported):
		in.fail(InvalidMKVData)
	default:
		in.fail(StreamReadError)
	}
}

// writeAcks owns the response: it writes every ack the reader sends, turns
// durability results into PERSISTED (or ERROR 5001) in fragment order, and
// sends IDLE when nothing was written for IdleAckInterval. It returns once
// the reader is done and every pending fragment got its last ack.
//
// Each ack is written and flushed on its own, so that it travels in an
// HTTP chunk (or HTTP/2 DATA frame) of its own, as KVS sends them: the KVS
// producer SDK's ack parser takes one ack per chunk it receives and drops
// whatever else the chunk holds.
func (c *conn) writeAcks(w http.ResponseWriter, required bool) {
	cfg := &c.s.cfg
	type pending struct {
		tc     uint64
		number string
		done   <-chan error
	}
	var (
		queue  []pending
		buf    []byte // the acks to write, one after another
		ends   []int  // where each ack in buf ends
		failed bool
		acks   = c.acks
	)
	idle := time.NewTimer(cfg.IdleAckInterval)
	defer idle.Stop()
	push := func(a ack) {
		buf = appendAck(buf, a)
		ends = append(ends, len(buf))
	}
	add := func(a ack) {
		if a.durable != nil {
			queue = append(queue, pending{a.timecode, a.number, a.durable})
		}
		if required || a.event == eventError {
			push(a)
		}
	}
	for acks != nil || len(queue) > 0 {
		var head <-chan error
		if len(queue) > 0 {
			head = queue[0].done
		}
		select {
		case a, ok := <-acks:
			if !ok {
				acks = nil
				continue
			}
			add(a)
		drain:
			for {
				select {
				case a, ok := <-acks:
					if !ok {
						acks = nil
						break drain
					}
					add(a)
				default:
					break drain
				}
			}
		case err := <-head:
			p := queue[0]
			queue = queue[1:]
			if err == nil {
				if required {
					push(ack{event: eventPersisted, timecode: p.tc, hasTC: true, number: p.number})
				}
			} else {
				push(ack{event: eventError, timecode: p.tc, hasTC: true, number: p.number, errID: ArchivalError})
			}
		case <-idle.C:
			if required {
				push(ack{event: eventIdle})
			}
		}
		if len(buf) == 0 || failed {
			buf, ends = buf[:0], ends[:0]
			continue
		}
		_ = c.rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		var err error
		start := 0
		for _, end := range ends {
			if _, err = w.Write(buf[start:end]); err == nil {
				err = c.rc.Flush()
			}
			if err != nil {
				break
			}
			start = end
		}
		buf, ends = buf[:0], ends[:0]
		if err != nil {
			failed = true
			c.stop(stopAckFailed)
		}
		idle.Reset(cfg.IdleAckInterval)
	}
}
