package mkv

// Header is the EBML header of one Matroska document, RFC 8794 §11.2.
type Header struct {
	// DocType is "matroska" or "webm".
	DocType            string
	DocTypeVersion     uint64
	DocTypeReadVersion uint64
	// SegmentSize is the declared size of the Segment that follows the
	// header, or UnknownSize (what live producers send).
	SegmentSize int64
}

// Info is the Segment Information element, RFC 9559 §5.1.2.
type Info struct {
	// TimecodeScale is the number of nanoseconds per timestamp tick
	// (TimestampScale, RFC 9559 §5.1.2); 1,000,000 when absent.
	TimecodeScale uint64
	// Duration is in ticks; 0 when absent (live streams).
	Duration   float64
	Title      string
	MuxingApp  string
	WritingApp string
	// Raw is the whole Info element as received (header and body).
	Raw []byte
}

// Track types, RFC 9559 §5.1.4.1 (TrackType).
const (
	TrackTypeVideo    = 1
	TrackTypeAudio    = 2
	TrackTypeComplex  = 3
	TrackTypeLogo     = 0x10
	TrackTypeSubtitle = 0x11
	TrackTypeButtons  = 0x12
	TrackTypeControl  = 0x20
	TrackTypeMetadata = 0x21
)

// Track is one TrackEntry, RFC 9559 §5.1.4.1.
type Track struct {
	// Number is the TrackNumber blocks refer to (≥ 1).
	Number uint64
	UID    uint64
	// Type is one of the TrackType* constants.
	Type    uint64
	CodecID string
	// CodecPrivate is codec set-up data (AVCDecoderConfigurationRecord for
	// V_MPEG4/ISO/AVC, HEVCDecoderConfigurationRecord for V_MPEGH/ISO/HEVC,
	// AudioSpecificConfig for A_AAC, OpusHead for A_OPUS).
	CodecPrivate []byte
	Name         string
	// Language is the legacy Language element; empty means "eng".
	Language string
	// DefaultDuration is the nominal frame duration in nanoseconds; 0 when
	// absent.
	DefaultDuration uint64
	// CodecDelay and SeekPreRoll are in nanoseconds (Opus uses them).
	CodecDelay  uint64
	SeekPreRoll uint64
	// Video is set for video tracks that carry a Video element.
	Video *VideoTrack
	// Audio is set for audio tracks that carry an Audio element.
	Audio *AudioTrack
	// Encoded reports a ContentEncodings element: frame data is compressed
	// or encrypted and this package returns it as stored.
	Encoded bool
}

// VideoTrack holds the Video element of a track, RFC 9559 §5.1.4.1 (Video).
type VideoTrack struct {
	PixelWidth    uint64
	PixelHeight   uint64
	DisplayWidth  uint64
	DisplayHeight uint64
}

// AudioTrack holds the Audio element of a track, RFC 9559 §5.1.4.1 (Audio).
type AudioTrack struct {
	// SamplingFrequency is in Hz; 8000 when absent.
	SamplingFrequency float64
	// Channels is 1 when absent.
	Channels uint64
	BitDepth uint64
}

// Tracks is the Tracks element, RFC 9559 §5.1.4.
type Tracks struct {
	Entries []Track
	// Raw is the whole Tracks element with a known size, ready to be
	// written again after a fresh EBML header and Info (GetMedia chunks).
	Raw []byte
}

// Track returns the entry with TrackNumber n, or nil.
func (t *Tracks) Track(n uint64) *Track {
	if t == nil {
		return nil
	}
	for i := range t.Entries {
		if t.Entries[i].Number == n {
			return &t.Entries[i]
		}
	}
	return nil
}

// Tags is one Tags element, RFC 9559 §5.1.8.
type Tags struct {
	Tags []Tag
	// Raw is the whole Tags element as received.
	Raw []byte
}

// Lookup returns the TagString of the first SimpleTag named name, searching
// every Tag and nested SimpleTags in document order.
func (t *Tags) Lookup(name string) (string, bool) {
	if t == nil {
		return "", false
	}
	for i := range t.Tags {
		if s, ok := lookupSimple(t.Tags[i].SimpleTags, name); ok {
			return s, true
		}
	}
	return "", false
}

func lookupSimple(tags []SimpleTag, name string) (string, bool) {
	for i := range tags {
		if tags[i].Name == name {
			return tags[i].String, true
		}
		if s, ok := lookupSimple(tags[i].Tags, name); ok {
			return s, true
		}
	}
	return "", false
}

// Tag is one Tag element: what it applies to and its SimpleTags,
// RFC 9559 §5.1.8.1.
type Tag struct {
	Targets    Targets
	SimpleTags []SimpleTag
}

// Targets says what a Tag applies to, RFC 9559 §5.1.8.1 (Targets). The zero value
// means the whole Segment.
type Targets struct {
	// TypeValue is TargetTypeValue; 0 when absent (the default is 50).
	TypeValue uint64
	Type      string
	TrackUIDs []uint64
}

// SimpleTag is one name/value pair, RFC 9559 §5.1.8.1 (SimpleTag).
type SimpleTag struct {
	Name     string
	String   string
	Language string
	Binary   []byte
	// Tags are nested SimpleTags.
	Tags []SimpleTag
}

// Frame is one frame of a block. In a Cluster returned by Reader, Data
// aliases Cluster.Raw.
type Frame struct {
	// Track is the TrackNumber.
	Track uint64
	// Timecode is relative to the Cluster Timestamp, in ticks
	// (RFC 9559 §10.1: a signed 16-bit value).
	Timecode int16
	// Keyframe is the SimpleBlock keyframe flag, or for a BlockGroup the
	// absence of ReferenceBlock (RFC 9559 §10.2, §5.1.3.5).
	Keyframe bool
	// Invisible means decode but do not display.
	Invisible bool
	// Discardable is the SimpleBlock discardable flag.
	Discardable bool
	// Duration is the BlockDuration in ticks, 0 when absent (BlockGroup only).
	Duration uint64
	// Offset is the offset of Data within Cluster.Raw (Reader only).
	Offset int
	// Data is the frame payload.
	Data []byte
}

// Cluster is one complete Cluster, RFC 9559 §5.1.3. A Cluster returned by
// Reader.Cluster is reused by the next call to Reader.Next, and its bytes
// (Raw, Frames' Data) are then handed to a buffer pool that other Readers
// draw from; use Clone to keep it.
type Cluster struct {
	// Timecode is the Cluster Timestamp in ticks.
	Timecode uint64
	// Offset is the stream offset of the Cluster element's first byte.
	Offset int64
	// UnknownSize reports that the Cluster arrived with an unknown size.
	UnknownSize bool
	// Raw is the whole Cluster element, rewritten with a known size when it
	// arrived with an unknown one; nothing else changes. It can be written
	// unchanged after Tracks (Writer.WriteRaw).
	Raw []byte
	// Frames lists the frames in stream order; their Data alias Raw.
	Frames []Frame

	buf []byte
}

// Time returns the absolute timecode of f in ticks.
func (c *Cluster) Time(f *Frame) int64 {
	return int64(c.Timecode) + int64(f.Timecode)
}

// Clone returns a deep copy of c that does not alias the Reader's buffers.
func (c *Cluster) Clone() *Cluster {
	n := &Cluster{
		Timecode:    c.Timecode,
		Offset:      c.Offset,
		UnknownSize: c.UnknownSize,
		Raw:         append([]byte(nil), c.Raw...),
		Frames:      append([]Frame(nil), c.Frames...),
	}
	for i := range n.Frames {
		f := &n.Frames[i]
		f.Data = n.Raw[f.Offset : f.Offset+len(f.Data) : f.Offset+len(f.Data)]
	}
	return n
}
