package mkv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Event says what Reader.Next has just read.
type Event int

// Events, in the order a well-formed stream yields them. EventHeader can
// come again mid-stream when a producer starts a new EBML document on the
// same connection.
const (
	// EventHeader: an EBML header and the start of its Segment; see
	// Reader.Header. Info, Tracks and Tags of the previous document are
	// forgotten.
	EventHeader Event = iota + 1
	// EventInfo: the Segment Information; see Reader.Info.
	EventInfo
	// EventTracks: the Tracks element; see Reader.Tracks.
	EventTracks
	// EventTags: a Tags element; see Reader.Tags. The KVS producer SDK
	// writes one Tags element per fragment metadata item, all before the
	// Cluster they belong to, so ingest collects every EventTags since the
	// last EventCluster.
	EventTags
	// EventClusterStart: a Cluster has begun and its Timestamp is known
	// (Reader.Cluster().Timecode); its frames are not read yet. PutMedia
	// sends its BUFFERING ack here.
	EventClusterStart
	// EventCluster: the Cluster started by the last EventClusterStart is
	// complete; see Reader.Cluster.
	EventCluster
)

// String returns the event's name.
func (e Event) String() string {
	switch e {
	case EventHeader:
		return "Header"
	case EventInfo:
		return "Info"
	case EventTracks:
		return "Tracks"
	case EventTags:
		return "Tags"
	case EventClusterStart:
		return "ClusterStart"
	case EventCluster:
		return "Cluster"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// ReaderConfig configures a Reader. The zero value is usable.
type ReaderConfig struct {
	// MaxElementSize bounds the EBML header, Info, Tracks and Tags
	// elements, which are read whole. Defaults to 4 MiB.
	MaxElementSize int64
	// MaxClusterSize bounds one Cluster, declared or accumulated (an
	// unknown-size Cluster is counted as it arrives). Defaults to 64 MiB.
	MaxClusterSize int64
	// MaxFrames bounds the frames of one Cluster (lacing can pack 256
	// frames into a few bytes). Defaults to 65536.
	MaxFrames int
	// MaxDepth bounds element nesting, counted from the Segment (depth 1).
	// Defaults to 16.
	MaxDepth int
	// BufferSize is the size of the read buffer. Defaults to 64 KiB.
	BufferSize int
}

func (c *ReaderConfig) setDefaults() {
	if c.MaxElementSize <= 0 {
		c.MaxElementSize = 4 << 20
	}
	if c.MaxClusterSize <= 0 {
		c.MaxClusterSize = 64 << 20
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = 1 << 16
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 16
	}
	if c.BufferSize <= 0 {
		c.BufferSize = 64 << 10
	}
}

// clusterReserve is the room kept in front of a Cluster body for its
// rewritten header: a 4-byte ID and an 8-byte size.
const clusterReserve = 4 + maxVintLen

// clusterPool holds Cluster buffers between Clusters, shared by every
// Reader: a Reader waiting for its next Cluster (an idle live stream) holds
// none, and busy Readers reuse each other's instead of allocating.
var clusterPool sync.Pool

// maxPooledCluster is the largest buffer kept in clusterPool; larger ones
// (rare, huge Clusters) are left to the garbage collector.
const maxPooledCluster = 16 << 20

func getClusterBuf() []byte {
	if p, ok := clusterPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// releaseCluster returns the buffer of the Cluster last returned (whose
// contents the caller may no longer use) to clusterPool.
func (r *Reader) releaseCluster() {
	c := &r.cluster
	buf := c.buf
	c.buf, c.Raw = nil, nil
	clear(c.Frames[:cap(c.Frames)]) // their Data alias buf
	c.Frames = c.Frames[:0]
	if cap(buf) > 0 && cap(buf) <= maxPooledCluster {
		buf = buf[:0]
		clusterPool.Put(&buf)
	}
}

// readChunk is the most a Reader allocates ahead of data actually read, so
// a huge declared size costs nothing until the bytes arrive.
const readChunk = 64 << 10

// Reader demultiplexes a Matroska stream as it arrives (RFC 9559 §4.5, §6).
// It reads whole elements for the EBML header, Info, Tracks and Tags, one
// Cluster at a time for media, and skips SeekHead, Cues, Chapters,
// Attachments, Void and CRC-32 elements and unknown elements of known size
// without buffering them. Segments and Clusters may have unknown sizes; an
// unknown-size Cluster ends at the next top-level element ID or at EOF
// (RFC 8794 §6.2).
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	cfg ReaderConfig
	off int64
	err error

	inSegment bool
	segEnd    int64 // stream offset where the Segment ends; -1 if unknown

	header  Header
	info    *Info
	tracks  *Tracks
	tags    *Tags
	cluster Cluster

	clusterOpen bool  // EventClusterStart returned, EventCluster not yet
	clusterDone bool  // the open Cluster has been read to its end
	clusterEnd  int64 // stream offset where the Cluster ends; -1 if unknown
	hasTimecode bool

	hdr [maxIDLen + maxVintLen]byte
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	cfg.setDefaults()
	return &Reader{br: bufio.NewReaderSize(r, cfg.BufferSize), cfg: cfg, segEnd: -1}
}

// Header returns the EBML header and Segment size of the current document.
func (r *Reader) Header() Header { return r.header }

// Info returns the Segment Information of the current document: a default
// one (TimecodeScale 1,000,000) until EventInfo.
func (r *Reader) Info() *Info {
	if r.info == nil {
		return &Info{TimecodeScale: 1_000_000}
	}
	return r.info
}

// Tracks returns the Tracks of the current document, or nil before
// EventTracks.
func (r *Reader) Tracks() *Tracks { return r.tracks }

// Tags returns the last Tags element read in the current document, or nil.
func (r *Reader) Tags() *Tags { return r.tags }

// Cluster returns the Cluster of the last EventClusterStart or
// EventCluster. After EventClusterStart only Timecode and Offset are set.
// The Cluster and its buffers are reused by the next call to Next.
func (r *Reader) Cluster() *Cluster { return &r.cluster }

// Offset returns the number of stream bytes consumed so far.
func (r *Reader) Offset() int64 { return r.off }

// Next reads until the next event. At the clean end of the stream (EOF at
// an element boundary where a document may end) it returns io.EOF. Errors
// for bad input wrap one of the package's sentinel errors; errors are
// sticky.
func (r *Reader) Next() (Event, error) {
	if !r.clusterOpen && r.cluster.buf != nil {
		r.releaseCluster()
	}
	if r.err != nil {
		return 0, r.err
	}
	ev, err := r.next()
	if err != nil {
		r.err = err
		r.clusterOpen = false
	}
	return ev, err
}

func (r *Reader) next() (Event, error) {
	for {
		if r.clusterOpen {
			if err := r.finishCluster(); err != nil {
				return 0, err
			}
			r.clusterOpen = false
			return EventCluster, nil
		}
		if !r.inSegment {
			id, size, _, err := r.readHeader()
			if err == io.EOF {
				return 0, io.EOF // the clean end: between documents
			}
			if err != nil {
				return 0, r.truncated(err, "EBML header")
			}
			return r.startDocument(id, size)
		}
		if r.segEnd >= 0 && r.off >= r.segEnd {
			r.inSegment = false
			continue
		}
		id, size, hl, err := r.readHeader()
		if errors.Is(err, io.EOF) && r.segEnd < 0 {
			return 0, io.EOF
		}
		if err != nil {
			return 0, r.truncated(err, "Segment")
		}
		if r.segEnd >= 0 && size != UnknownSize && size > r.segEnd-r.off {
			return 0, fmt.Errorf("%w: element 0x%X of %d bytes at offset %d overruns its Segment", ErrInvalid, id, size, r.off-int64(hl))
		}
		switch id {
		case IDEBML:
			// A new document on the same stream (a producer restarting).
			return r.startDocument(id, size)
		case IDSegment:
			return 0, fmt.Errorf("%w: Segment inside a Segment at offset %d", ErrInvalid, r.off-int64(hl))
		case IDInfo:
			raw, err := r.readElement(id, size, "Info")
			if err != nil {
				return 0, err
			}
			info, err := parseInfo(raw[len(raw)-int(size):])
			if err != nil {
				return 0, err
			}
			info.Raw = raw
			r.info = &info
			return EventInfo, nil
		case IDTracks:
			raw, err := r.readElement(id, size, "Tracks")
			if err != nil {
				return 0, err
			}
			entries, err := parseTracks(raw[len(raw)-int(size):])
			if err != nil {
				return 0, err
			}
			if len(entries) == 0 {
				return 0, fmt.Errorf("%w: Tracks without TrackEntry", ErrInvalid)
			}
			r.tracks = &Tracks{Entries: entries, Raw: raw}
			return EventTracks, nil
		case IDTags:
			raw, err := r.readElement(id, size, "Tags")
			if err != nil {
				return 0, err
			}
			tags, err := parseTags(raw[len(raw)-int(size):], r.cfg.MaxDepth)
			if err != nil {
				return 0, err
			}
			r.tags = &Tags{Tags: tags, Raw: raw}
			return EventTags, nil
		case IDCluster:
			return r.startCluster(size, hl)
		default:
			// SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and
			// unknown elements: not needed for streaming, skipped.
			if size == UnknownSize {
				return 0, fmt.Errorf("%w: element 0x%X with unknown size", ErrInvalid, id)
			}
			if err := r.skip(size); err != nil {
				return 0, r.truncated(err, fmt.Sprintf("element 0x%X", id))
			}
		}
	}
}

// startDocument reads an EBML header (RFC 8794 §8.1) whose element header
// has just been read, and the Segment element header after it.
func (r *Reader) startDocument(id ID, size int64) (Event, error) {
	if id != IDEBML {
		return 0, fmt.Errorf("%w: expected an EBML header, found element 0x%X at offset %d", ErrInvalid, id, r.off)
	}
	raw, err := r.readElement(id, size, "EBML header")
	if err != nil {
		return 0, err
	}
	h, err := parseEBMLHeader(raw[len(raw)-int(size):])
	if err != nil {
		return 0, err
	}
	id, size, hl, err := r.readHeader()
	if err != nil {
		return 0, r.truncated(err, "Segment header")
	}
	if id != IDSegment {
		return 0, fmt.Errorf("%w: expected a Segment after the EBML header, found element 0x%X at offset %d", ErrInvalid, id, r.off-int64(hl))
	}
	h.SegmentSize = size
	r.header = h
	r.inSegment = true
	r.segEnd = -1
	if size != UnknownSize {
		r.segEnd = r.off + size
	}
	r.info, r.tracks, r.tags = nil, nil, nil
	return EventHeader, nil
}

// startCluster begins a Cluster whose element header (hl bytes) has just
// been read, and reads its children up to and including the Timestamp.
func (r *Reader) startCluster(size int64, hl int) (Event, error) {
	start := r.off - int64(hl)
	if r.tracks == nil {
		return 0, fmt.Errorf("%w: Cluster at offset %d before any Tracks", ErrInvalid, start)
	}
	if size > r.cfg.MaxClusterSize {
		return 0, fmt.Errorf("%w: Cluster at offset %d declares %d bytes (limit %d)", ErrTooLarge, start, size, r.cfg.MaxClusterSize)
	}
	c := &r.cluster
	if c.buf == nil {
		c.buf = getClusterBuf()
	}
	c.buf = slices.Grow(c.buf[:0], clusterReserve)[:clusterReserve]
	c.Frames = c.Frames[:0]
	c.Raw = nil
	c.Timecode = 0
	c.Offset = start
	c.UnknownSize = size == UnknownSize
	r.clusterEnd = -1
	if size != UnknownSize {
		r.clusterEnd = r.off + size
	}
	r.hasTimecode = false
	r.clusterDone = false
	for !r.hasTimecode {
		done, err := r.readClusterChild()
		if err != nil {
			return 0, err
		}
		if done {
			r.clusterDone = true
			break
		}
	}
	if !r.hasTimecode {
		return 0, fmt.Errorf("%w: Cluster at offset %d has no Timestamp", ErrInvalid, start)
	}
	r.clusterOpen = true
	return EventClusterStart, nil
}

// readClusterChild appends the next child of the open Cluster to its
// buffer. done reports that the Cluster has ended instead.
func (r *Reader) readClusterChild() (done bool, err error) {
	c := &r.cluster
	if r.clusterEnd >= 0 {
		if r.off >= r.clusterEnd {
			return true, nil
		}
	} else {
		if r.segEnd >= 0 && r.off >= r.segEnd {
			return true, nil
		}
		id, err := r.peekID()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, r.truncated(err, "Cluster")
		}
		if isTopLevel(id) {
			return true, nil
		}
	}
	id, size, hl, err := r.readHeader()
	if err != nil {
		return false, r.truncated(err, "Cluster")
	}
	if size == UnknownSize {
		return false, fmt.Errorf("%w: element 0x%X with unknown size inside a Cluster", ErrInvalid, id)
	}
	if r.clusterEnd >= 0 && size > r.clusterEnd-r.off {
		return false, fmt.Errorf("%w: element 0x%X of %d bytes overruns its Cluster", ErrInvalid, id, size)
	}
	if r.segEnd >= 0 && size > r.segEnd-r.off {
		return false, fmt.Errorf("%w: element 0x%X of %d bytes overruns its Segment", ErrInvalid, id, size)
	}
	if total := int64(len(c.buf)-clusterReserve+hl) + size; total > r.cfg.MaxClusterSize {
		return false, fmt.Errorf("%w: Cluster at offset %d exceeds %d bytes", ErrTooLarge, c.Offset, r.cfg.MaxClusterSize)
	}
	c.buf = append(c.buf, r.hdr[:hl]...)
	bodyAt := len(c.buf)
	if c.buf, err = r.readBody(c.buf, size); err != nil {
		return false, r.truncated(err, "Cluster")
	}
	if id == IDTimestamp {
		if c.Timecode, err = decodeUint(id, c.buf[bodyAt:]); err != nil {
			return false, err
		}
		r.hasTimecode = true
	}
	return false, nil
}

// finishCluster reads the rest of the open Cluster and indexes its frames.
func (r *Reader) finishCluster() error {
	c := &r.cluster
	if !r.clusterDone {
		if r.clusterEnd >= 0 {
			var err error
			if c.buf, err = r.readBody(c.buf, r.clusterEnd-r.off); err != nil {
				return r.truncated(err, "Cluster")
			}
		} else {
			for {
				done, err := r.readClusterChild()
				if err != nil {
					return err
				}
				if done {
					break
				}
			}
		}
	}
	return r.indexCluster()
}

// indexCluster writes the known-size Cluster header in front of the body
// and lists the frames of its SimpleBlocks and BlockGroups.
func (r *Reader) indexCluster() error {
	c := &r.cluster
	body := len(c.buf) - clusterReserve
	var hdr [clusterReserve]byte
	h := AppendElementHeader(hdr[:0], IDCluster, int64(body))
	at := clusterReserve - len(h)
	copy(c.buf[at:], h)
	c.Raw = c.buf[at:]
	b := c.Raw[len(h):]
	base := len(h)
	for len(b) > 0 {
		e, rest, err := nextElement(b, base)
		if err != nil {
			return fmt.Errorf("Cluster at offset %d: %w", c.Offset, err)
		}
		base += len(b) - len(rest)
		b = rest
		n := len(c.Frames)
		switch e.id {
		case IDSimpleBlock:
			c.Frames, err = appendBlockFrames(c.Frames, e.data, e.off, true, false, 0)
		case IDBlockGroup:
			c.Frames, err = appendBlockGroup(c.Frames, e.data, e.off)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("Cluster at offset %d: %w", c.Offset, err)
		}
		if len(c.Frames) > r.cfg.MaxFrames {
			return fmt.Errorf("%w: Cluster at offset %d has more than %d frames", ErrTooLarge, c.Offset, r.cfg.MaxFrames)
		}
		if len(c.Frames) > n {
			if tn := c.Frames[n].Track; r.tracks.Track(tn) == nil {
				return fmt.Errorf("%w: track %d in Cluster at offset %d", ErrUnknownTrack, tn, c.Offset)
			}
		}
	}
	return nil
}

// appendBlockGroup appends the frames of a BlockGroup body at offset base,
// RFC 9559 §5.1.3.5: its Block is a keyframe when no ReferenceBlock is
// present.
func appendBlockGroup(dst []Frame, b []byte, base int) ([]Frame, error) {
	var (
		block    []byte
		blockOff int
		hasBlock bool
		hasRef   bool
		duration uint64
	)
	pos := base
	for len(b) > 0 {
		e, rest, err := nextElement(b, pos)
		if err != nil {
			return dst, fmt.Errorf("BlockGroup: %w", err)
		}
		pos += len(b) - len(rest)
		b = rest
		switch e.id {
		case IDBlock:
			if hasBlock {
				return dst, fmt.Errorf("%w: BlockGroup with two Blocks", ErrInvalid)
			}
			block, blockOff, hasBlock = e.data, e.off, true
		case IDReferenceBlock:
			hasRef = true
		case IDBlockDuration:
			if duration, err = decodeUint(e.id, e.data); err != nil {
				return dst, err
			}
		}
	}
	if !hasBlock {
		return dst, fmt.Errorf("%w: BlockGroup without Block", ErrInvalid)
	}
	return appendBlockFrames(dst, block, blockOff, false, !hasRef, duration)
}

// readElement reads a whole element of known size whose header has just
// been read, returning it with a canonical header in front.
func (r *Reader) readElement(id ID, size int64, what string) ([]byte, error) {
	if size == UnknownSize {
		return nil, fmt.Errorf("%w: %s with unknown size", ErrInvalid, what)
	}
	if size > r.cfg.MaxElementSize {
		return nil, fmt.Errorf("%w: %s declares %d bytes (limit %d)", ErrTooLarge, what, size, r.cfg.MaxElementSize)
	}
	buf := AppendElementHeader(make([]byte, 0, elementHeaderSize(id, int(size))+int(min(size, readChunk))), id, size)
	buf, err := r.readBody(buf, size)
	if err != nil {
		return nil, r.truncated(err, what)
	}
	return buf, nil
}

// readHeader reads an element header. It returns io.EOF only when the
// stream ends before the header's first byte. The header bytes are left in
// r.hdr[:n].
func (r *Reader) readHeader() (id ID, size int64, n int, err error) {
	b, err := r.br.Peek(1)
	if len(b) == 0 {
		return 0, 0, 0, err
	}
	in := idLen(b[0])
	if in == 0 {
		return 0, 0, 0, fmt.Errorf("%w: element ID longer than %d bytes at offset %d (first byte 0x%02x)", ErrInvalid, maxIDLen, r.off, b[0])
	}
	if b, err = r.br.Peek(in + 1); len(b) < in+1 {
		return 0, 0, 0, eofToUnexpected(err)
	}
	sn := vintLen(b[in])
	if sn == 0 {
		return 0, 0, 0, fmt.Errorf("%w: size VINT longer than %d bytes at offset %d", ErrInvalid, maxVintLen, r.off+int64(in))
	}
	n = in + sn
	if b, err = r.br.Peek(n); len(b) < n {
		return 0, 0, 0, eofToUnexpected(err)
	}
	if id, _, err = parseID(b); err != nil {
		return 0, 0, 0, fmt.Errorf("at offset %d: %w", r.off, err)
	}
	size, _, _ = parseSize(b[in:])
	copy(r.hdr[:], b[:n])
	_, _ = r.br.Discard(n)
	r.off += int64(n)
	return id, size, n, nil
}

// peekID returns the next Element ID without consuming it. It returns
// io.EOF only when the stream has ended.
func (r *Reader) peekID() (ID, error) {
	b, err := r.br.Peek(1)
	if len(b) == 0 {
		return 0, err
	}
	in := idLen(b[0])
	if in == 0 {
		return 0, fmt.Errorf("%w: element ID longer than %d bytes at offset %d (first byte 0x%02x)", ErrInvalid, maxIDLen, r.off, b[0])
	}
	if b, err = r.br.Peek(in); len(b) < in {
		return 0, eofToUnexpected(err)
	}
	id, _, err := parseID(b)
	if err != nil {
		return 0, fmt.Errorf("at offset %d: %w", r.off, err)
	}
	return id, nil
}

// readBody appends n stream bytes to dst, growing it only as fast as data
// arrives.
func (r *Reader) readBody(dst []byte, n int64) ([]byte, error) {
	for n > 0 {
		step := max(int64(len(dst)), readChunk)
		step = min(step, n)
		dst = slices.Grow(dst, int(step))
		got, err := io.ReadFull(r.br, dst[len(dst):len(dst)+int(step)])
		dst = dst[:len(dst)+got]
		r.off += int64(got)
		n -= int64(got)
		if err != nil {
			return dst, eofToUnexpected(err)
		}
	}
	return dst, nil
}

// skip discards n stream bytes.
func (r *Reader) skip(n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		got, err := r.br.Discard(step)
		r.off += int64(got)
		n -= int64(got)
		if err != nil {
			return eofToUnexpected(err)
		}
	}
	return nil
}

func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// truncated wraps a read error met inside what: running out of data becomes
// ErrTruncated; other errors (the transport's) pass through wrapped.
func (r *Reader) truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ends inside %s at offset %d: %w", ErrTruncated, what, r.off, io.ErrUnexpectedEOF)
	}
	if isSentinel(err) {
		return err
	}
	return fmt.Errorf("mkv: reading %s at offset %d: %w", what, r.off, err)
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrInvalid, ErrTruncated, ErrTooLarge, ErrTooDeep, ErrUnknownTrack, ErrLacing, ErrUnsupported} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
