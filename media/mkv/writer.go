package mkv

import (
	"fmt"
	"io"
)

// WriterConfig configures a Writer. The zero value is usable.
type WriterConfig struct {
	// DocType is written in the EBML header: "matroska" or "webm".
	// Defaults to "matroska".
	DocType string
	// TimecodeScale is nanoseconds per tick. Defaults to 1,000,000 (ms).
	// When re-emitting stored Clusters (WriteRaw) it must equal the
	// producer's TimecodeScale (Info.TimecodeScale), since Cluster and
	// block timecodes are in its ticks.
	TimecodeScale uint64
	// MuxingApp and WritingApp go into Info. Both default to "openkvs".
	MuxingApp  string
	WritingApp string
}

// Writer writes Matroska streams as live producers and KVS GetMedia do: each
// document is an EBML header, a Segment of unknown size, Info and Tracks,
// then Tags and Clusters (RFC 9559 §6 element ordering). Every method
// writes with one Write call. A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	cfg WriterConfig
	buf []byte
	// docStart caches the EBML header, Segment header and Info, which
	// depend only on cfg.
	docStart []byte

	inCluster bool // an unknown-size Cluster is open (BeginCluster)
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer, cfg WriterConfig) (*Writer, error) {
	if cfg.DocType == "" {
		cfg.DocType = "matroska"
	}
	if cfg.DocType != "matroska" && cfg.DocType != "webm" {
		return nil, fmt.Errorf("%w: DocType %q", ErrUnsupported, cfg.DocType)
	}
	if cfg.TimecodeScale == 0 {
		cfg.TimecodeScale = 1_000_000
	}
	if cfg.MuxingApp == "" {
		cfg.MuxingApp = "openkvs"
	}
	if cfg.WritingApp == "" {
		cfg.WritingApp = "openkvs"
	}
	wr := &Writer{w: w, cfg: cfg}
	wr.docStart = wr.appendDocumentStart(nil)
	return wr, nil
}

func (w *Writer) flush() error {
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// WriteHeader starts a document: EBML header, Segment of unknown size,
// Info and a Tracks element built from tracks. It can be called again to
// start another document on the same stream.
func (w *Writer) WriteHeader(tracks []Track) error {
	if len(tracks) == 0 {
		return fmt.Errorf("%w: no tracks", ErrInvalid)
	}
	w.inCluster = false
	w.buf = append(w.buf[:0], w.docStart...)
	w.buf = AppendTracks(w.buf, tracks)
	return w.flush()
}

// WriteHeaderRaw starts a document like WriteHeader with a pre-encoded
// Tracks element (Tracks.Raw from a Reader), so a stored stream header
// is written again unchanged.
func (w *Writer) WriteHeaderRaw(rawTracks []byte) error {
	id, size, n, err := ParseElementHeader(rawTracks)
	if err != nil || id != IDTracks || size != int64(len(rawTracks)-n) {
		return fmt.Errorf("%w: not a known-size Tracks element", ErrInvalid)
	}
	w.inCluster = false
	w.buf = append(w.buf[:0], w.docStart...)
	w.buf = append(w.buf, rawTracks...)
	return w.flush()
}

// appendDocumentStart appends the EBML header (RFC 8794 §8.1), the Segment
// header with unknown size (RFC 8794 §6.2) and Info (RFC 9559 §5.1.2).
func (w *Writer) appendDocumentStart(dst []byte) []byte {
	var h []byte
	h = appendUint(h, IDEBMLVersion, 1)
	h = appendUint(h, IDEBMLReadVersion, 1)
	h = appendUint(h, IDEBMLMaxIDLength, maxIDLen)
	h = appendUint(h, IDEBMLMaxSizeLength, maxVintLen)
	h = appendString(h, IDDocType, w.cfg.DocType)
	h = appendUint(h, IDDocTypeVersion, 4)
	h = appendUint(h, IDDocTypeReadVersion, 2)
	dst = AppendElementHeader(dst, IDEBML, int64(len(h)))
	dst = append(dst, h...)
	dst = AppendElementHeader(dst, IDSegment, UnknownSize)

	var info []byte
	info = appendUint(info, IDTimestampScale, w.cfg.TimecodeScale)
	info = appendString(info, IDMuxingApp, w.cfg.MuxingApp)
	info = appendString(info, IDWritingApp, w.cfg.WritingApp)
	dst = AppendElementHeader(dst, IDInfo, int64(len(info)))
	return append(dst, info...)
}

// WriteTags writes a Tags element holding one Tag that applies to the
// whole Segment, with the given SimpleTags.
func (w *Writer) WriteTags(tags ...SimpleTag) error {
	w.inCluster = false
	w.buf = AppendTags(w.buf[:0], []Tag{{SimpleTags: tags}})
	return w.flush()
}

// WriteCluster writes a Cluster of known size holding one SimpleBlock per
// frame. Frame timecodes are relative to timecode; Offset is ignored.
func (w *Writer) WriteCluster(timecode uint64, frames []Frame) error {
	w.inCluster = false
	var err error
	w.buf, err = AppendCluster(w.buf[:0], timecode, frames)
	if err != nil {
		return err
	}
	return w.flush()
}

// BeginCluster writes the header of a Cluster of unknown size and its
// Timestamp, as a live producer does; follow with WriteFrame. The Cluster
// ends with the next Cluster, Tags or header.
func (w *Writer) BeginCluster(timecode uint64) error {
	w.buf = AppendElementHeader(w.buf[:0], IDCluster, UnknownSize)
	w.buf = appendUint(w.buf, IDTimestamp, timecode)
	w.inCluster = true
	return w.flush()
}

// WriteFrame writes f as a SimpleBlock inside the Cluster opened by
// BeginCluster.
func (w *Writer) WriteFrame(f Frame) error {
	if !w.inCluster {
		return fmt.Errorf("%w: WriteFrame outside BeginCluster", ErrInvalid)
	}
	var err error
	if w.buf, err = AppendSimpleBlock(w.buf[:0], f); err != nil {
		return err
	}
	return w.flush()
}

// WriteRaw writes pre-encoded elements unchanged, such as Cluster.Raw
// stored by ingest (the GetMedia fast path).
func (w *Writer) WriteRaw(b []byte) error {
	w.inCluster = false
	_, err := w.w.Write(b)
	return err
}

// AppendTracks appends a Tracks element (RFC 9559 §5.1.4) built from tracks.
func AppendTracks(dst []byte, tracks []Track) []byte {
	var body []byte
	for i := range tracks {
		e := appendTrackEntry(nil, &tracks[i])
		body = AppendElementHeader(body, IDTrackEntry, int64(len(e)))
		body = append(body, e...)
	}
	dst = AppendElementHeader(dst, IDTracks, int64(len(body)))
	return append(dst, body...)
}

func appendTrackEntry(dst []byte, t *Track) []byte {
	dst = appendUint(dst, IDTrackNumber, t.Number)
	uid := t.UID
	if uid == 0 {
		uid = t.Number // TrackUID must not be 0, RFC 9559 §5.1.4.1
	}
	dst = appendUint(dst, IDTrackUID, uid)
	dst = appendUint(dst, IDTrackType, t.Type)
	if t.Name != "" {
		dst = appendString(dst, IDName, t.Name)
	}
	if t.Language != "" {
		dst = appendString(dst, IDLanguage, t.Language)
	}
	dst = appendString(dst, IDCodecID, t.CodecID)
	if len(t.CodecPrivate) > 0 {
		dst = appendBinary(dst, IDCodecPrivate, t.CodecPrivate)
	}
	if t.DefaultDuration != 0 {
		dst = appendUint(dst, IDDefaultDuration, t.DefaultDuration)
	}
	if t.CodecDelay != 0 {
		dst = appendUint(dst, IDCodecDelay, t.CodecDelay)
	}
	if t.SeekPreRoll != 0 {
		dst = appendUint(dst, IDSeekPreRoll, t.SeekPreRoll)
	}
	if v := t.Video; v != nil {
		var b []byte
		b = appendUint(b, IDPixelWidth, v.PixelWidth)
		b = appendUint(b, IDPixelHeight, v.PixelHeight)
		if v.DisplayWidth != 0 {
			b = appendUint(b, IDDisplayWidth, v.DisplayWidth)
		}
		if v.DisplayHeight != 0 {
			b = appendUint(b, IDDisplayHeight, v.DisplayHeight)
		}
		dst = AppendElementHeader(dst, IDVideo, int64(len(b)))
		dst = append(dst, b...)
	}
	if a := t.Audio; a != nil {
		var b []byte
		b = appendFloat(b, IDSamplingFrequency, a.SamplingFrequency)
		b = appendUint(b, IDChannels, a.Channels)
		if a.BitDepth != 0 {
			b = appendUint(b, IDBitDepth, a.BitDepth)
		}
		dst = AppendElementHeader(dst, IDAudio, int64(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

// AppendTags appends a Tags element (RFC 9559 §5.1.8). Each Tag gets a
// Targets element (mandatory in a Tag), empty for the whole Segment.
func AppendTags(dst []byte, tags []Tag) []byte {
	var body []byte
	for i := range tags {
		var tag []byte
		var tg []byte
		t := &tags[i].Targets
		if t.TypeValue != 0 {
			tg = appendUint(tg, IDTargetTypeValue, t.TypeValue)
		}
		if t.Type != "" {
			tg = appendString(tg, IDTargetType, t.Type)
		}
		for _, uid := range t.TrackUIDs {
			tg = appendUint(tg, IDTagTrackUID, uid)
		}
		tag = AppendElementHeader(tag, IDTargets, int64(len(tg)))
		tag = append(tag, tg...)
		for j := range tags[i].SimpleTags {
			tag = appendSimpleTag(tag, &tags[i].SimpleTags[j])
		}
		body = AppendElementHeader(body, IDTag, int64(len(tag)))
		body = append(body, tag...)
	}
	dst = AppendElementHeader(dst, IDTags, int64(len(body)))
	return append(dst, body...)
}

func appendSimpleTag(dst []byte, st *SimpleTag) []byte {
	var b []byte
	b = appendString(b, IDTagName, st.Name)
	if st.Language != "" {
		b = appendString(b, IDTagLanguage, st.Language)
	}
	if st.Binary != nil {
		b = appendBinary(b, IDTagBinary, st.Binary)
	} else {
		b = appendString(b, IDTagString, st.String)
	}
	for i := range st.Tags {
		b = appendSimpleTag(b, &st.Tags[i])
	}
	dst = AppendElementHeader(dst, IDSimpleTag, int64(len(b)))
	return append(dst, b...)
}

// simpleBlockSize returns the body size of f as an unlaced SimpleBlock.
func simpleBlockSize(f *Frame) int {
	return vintSize(f.Track) + 3 + len(f.Data)
}

// AppendSimpleBlock appends f as an unlaced SimpleBlock, RFC 9559 §10.2.
func AppendSimpleBlock(dst []byte, f Frame) ([]byte, error) {
	return appendSimpleBlock(dst, &f)
}

func appendSimpleBlock(dst []byte, f *Frame) ([]byte, error) {
	if f.Track == 0 || f.Track >= 1<<56-1 {
		return dst, fmt.Errorf("%w: track number %d", ErrInvalid, f.Track)
	}
	dst = AppendElementHeader(dst, IDSimpleBlock, int64(simpleBlockSize(f)))
	dst = appendVintN(dst, f.Track, vintSize(f.Track))
	var flags byte
	if f.Keyframe {
		flags |= flagKeyframe
	}
	if f.Invisible {
		flags |= flagInvisible
	}
	if f.Discardable {
		flags |= flagDiscardable
	}
	dst = append(dst, byte(uint16(f.Timecode)>>8), byte(f.Timecode), flags)
	return append(dst, f.Data...), nil
}

// AppendCluster appends a Cluster of known size (RFC 9559 §5.1.3) with its
// Timestamp and one SimpleBlock per frame.
func AppendCluster(dst []byte, timecode uint64, frames []Frame) ([]byte, error) {
	size := 0
	var tc [10]byte
	size += len(appendUint(tc[:0], IDTimestamp, timecode))
	for i := range frames {
		n := simpleBlockSize(&frames[i])
		size += elementHeaderSize(IDSimpleBlock, n) + n
	}
	dst = AppendElementHeader(dst, IDCluster, int64(size))
	dst = appendUint(dst, IDTimestamp, timecode)
	for i := range frames {
		var err error
		if dst, err = appendSimpleBlock(dst, &frames[i]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
