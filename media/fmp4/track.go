package fmp4

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/openkvs/openkvs/media/h26x"
)

// Codec identifies the coding format of a track.
type Codec uint8

// The codecs this package can write.
const (
	H264 Codec = iota + 1 // sample entry 'avc1' with 'avcC' (ISO/IEC 14496-15 §5.4)
	H265                  // sample entry 'hvc1' with 'hvcC' (ISO/IEC 14496-15 §8.4)
	AAC                   // sample entry 'mp4a' with 'esds' (ISO/IEC 14496-14 §5.6)
	Opus                  // sample entry 'Opus' with 'dOps' (Opus in ISOBMFF §4.3)
)

// String returns the codec's common name.
func (c Codec) String() string {
	switch c {
	case H264:
		return "H.264"
	case H265:
		return "H.265"
	case AAC:
		return "AAC"
	case Opus:
		return "Opus"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == H264 || c == H265 }

// Track describes one track of a file. Build it with NewTrack, which parses
// the codec private data and fills in the derived fields; the fields can then
// be adjusted.
type Track struct {
	// ID is the track_ID, unique and non-zero within a file. Fragments
	// name their track by it.
	ID uint32
	// Codec is the coding format.
	Codec Codec
	// CodecPrivate is the codec configuration exactly as Matroska's
	// CodecPrivate holds it: an AVCDecoderConfigurationRecord (H264), an
	// HEVCDecoderConfigurationRecord (H265), an AudioSpecificConfig (AAC)
	// or an Opus identification header "OpusHead" (Opus, RFC 7845 §5.1).
	CodecPrivate []byte
	// Timescale is the number of time units per second in which sample
	// times and durations of this track are given. NewTrack sets 90000
	// for video and the sample rate for audio (48000 for Opus).
	Timescale uint32
	// Width and Height are the video picture size in pixels after
	// cropping; NewTrack takes them from the SPS.
	Width, Height int
	// SampleRate is the audio output sample rate in Hz and Channels the
	// channel count; NewTrack takes them from the codec private data.
	SampleRate uint32
	Channels   uint16
	// Language is the ISO 639-2/T code written in mdhd; "und" when empty.
	Language string

	codec   string // RFC 6381 codecs parameter
	sarW    uint16 // H.264 sample aspect ratio, 0 when unknown
	sarH    uint16
	preSkip uint16 // Opus pre-skip in 48 kHz samples
	dops    []byte // Opus: body of the dOps box
}

// NewTrack returns a track with the given ID whose codec configuration is
// parsed from codecPrivate (see Track.CodecPrivate).
func NewTrack(id uint32, codec Codec, codecPrivate []byte) (Track, error) {
	t := Track{ID: id, Codec: codec, CodecPrivate: codecPrivate}
	if id == 0 {
		return t, fmt.Errorf("track ID 0: %w", ErrInvalidTrack)
	}
	switch codec {
	case H264:
		c, err := h26x.ParseAVCDecoderConfig(codecPrivate)
		if err != nil {
			return t, fmt.Errorf("%w: avcC: %w", ErrCodecConfig, err)
		}
		if c.LengthSize != 4 {
			return t, fmt.Errorf("%w: avcC NAL length size %d, want 4", ErrCodecConfig, c.LengthSize)
		}
		s, err := c.ParseSPS()
		if err != nil {
			return t, fmt.Errorf("%w: avcC: %w", ErrCodecConfig, err)
		}
		t.Timescale, t.Width, t.Height, t.codec = 90000, s.Width, s.Height, c.Codec()
		t.sarW, t.sarH = s.SARWidth, s.SARHeight
	case H265:
		c, err := h26x.ParseHEVCDecoderConfig(codecPrivate)
		if err != nil {
			return t, fmt.Errorf("%w: hvcC: %w", ErrCodecConfig, err)
		}
		if c.LengthSize != 4 {
			return t, fmt.Errorf("%w: hvcC NAL length size %d, want 4", ErrCodecConfig, c.LengthSize)
		}
		s, err := c.ParseSPS()
		if err != nil {
			return t, fmt.Errorf("%w: hvcC: %w", ErrCodecConfig, err)
		}
		t.Timescale, t.Width, t.Height, t.codec = 90000, s.Width, s.Height, c.Codec()
	case AAC:
		asc, err := parseAudioSpecificConfig(codecPrivate)
		if err != nil {
			return t, err
		}
		t.SampleRate, t.Channels, t.Timescale = asc.sampleRate, asc.channels, asc.sampleRate
		t.codec = "mp4a.40." + strconv.Itoa(int(asc.objectType))
	case Opus:
		dops, ch, preSkip, err := opusHeadToDOps(codecPrivate)
		if err != nil {
			return t, err
		}
		// Opus always decodes at 48 kHz; the sample entry says so
		// whatever the input rate was (Opus in ISOBMFF §4.3).
		t.SampleRate, t.Channels, t.Timescale, t.codec = 48000, ch, 48000, "opus"
		t.dops, t.preSkip = dops, preSkip
	default:
		return t, fmt.Errorf("codec %v: %w", codec, ErrInvalidTrack)
	}
	return t, nil
}

// CodecString returns the RFC 6381 codecs parameter for the track, as HLS
// CODECS and DASH @codecs want it: "avc1.64001f", "hvc1.1.6.L93.B0",
// "mp4a.40.2" or "opus".
func (t *Track) CodecString() string { return t.codec }

// validate checks the fields the writers rely on.
func (t *Track) validate() error {
	if t.ID == 0 {
		return fmt.Errorf("track ID 0: %w", ErrInvalidTrack)
	}
	if t.Timescale == 0 {
		return fmt.Errorf("track %d: timescale 0: %w", t.ID, ErrInvalidTrack)
	}
	if t.codec == "" {
		return fmt.Errorf("track %d: not built by NewTrack: %w", t.ID, ErrInvalidTrack)
	}
	if t.Codec.IsVideo() && (t.Width <= 0 || t.Width > 0xffff || t.Height <= 0 || t.Height > 0xffff) {
		return fmt.Errorf("track %d: picture size %dx%d: %w", t.ID, t.Width, t.Height, ErrInvalidTrack)
	}
	if l := t.Language; l != "" && (len(l) != 3 || !isLower(l[0]) || !isLower(l[1]) || !isLower(l[2])) {
		return fmt.Errorf("track %d: language %q: %w", t.ID, l, ErrInvalidTrack)
	}
	return nil
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// audioSpecificConfig holds what the sample entry needs from an
// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
type audioSpecificConfig struct {
	objectType uint8
	sampleRate uint32
	channels   uint16
}

// aacSampleRates is samplingFrequencyIndex (ISO/IEC 14496-3 Table 1.18).
var aacSampleRates = [13]uint32{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

func parseAudioSpecificConfig(b []byte) (audioSpecificConfig, error) {
	var a audioSpecificConfig
	var acc uint64
	bits := 0
	read := func(n int) (uint32, bool) {
		for bits < n {
			if len(b) == 0 {
				return 0, false
			}
			acc = acc<<8 | uint64(b[0])
			b = b[1:]
			bits += 8
		}
		bits -= n
		return uint32(acc>>uint(bits)) & (1<<uint(n) - 1), true
	}
	fail := fmt.Errorf("%w: AudioSpecificConfig truncated", ErrCodecConfig)
	objectType := func() (uint32, bool) {
		v, ok := read(5)
		if ok && v == 31 {
			v, ok = read(6)
			v += 32
		}
		return v, ok
	}
	rate := func() (uint32, error) {
		idx, ok := read(4)
		if !ok {
			return 0, fail
		}
		if idx == 15 {
			r, ok := read(24)
			if !ok || r == 0 {
				return 0, fail
			}
			return r, nil
		}
		if int(idx) >= len(aacSampleRates) {
			return 0, fmt.Errorf("%w: AAC samplingFrequencyIndex %d", ErrCodecConfig, idx)
		}
		return aacSampleRates[idx], nil
	}
	aot, ok := objectType()
	if !ok {
		return a, fail
	}
	if aot == 0 {
		return a, fmt.Errorf("%w: AAC audioObjectType 0", ErrCodecConfig)
	}
	a.objectType = uint8(aot)
	var err error
	if a.sampleRate, err = rate(); err != nil {
		return a, err
	}
	ch, ok := read(4)
	if !ok {
		return a, fail
	}
	// channelConfiguration 0 means a program_config_element defines the
	// channels; stereo is the usual case. 7 is 7.1 (8 channels).
	switch {
	case ch == 0:
		a.channels = 2
	case ch < 7:
		a.channels = uint16(ch)
	case ch == 7:
		a.channels = 8
	default:
		a.channels = 2
	}
	// Explicit SBR/PS signalling (§1.6.5.2): the output sample rate is
	// the extension rate.
	if aot == 5 || aot == 29 {
		if a.sampleRate, err = rate(); err != nil {
			return a, err
		}
	}
	return a, nil
}

// opusHeadToDOps converts an Opus identification header (RFC 7845 §5.1,
// little-endian, as Matroska's CodecPrivate for A_OPUS holds it) into the
// body of an OpusSpecificBox 'dOps' (Opus in ISOBMFF §4.3.2, big-endian).
func opusHeadToDOps(h []byte) (dops []byte, channels, preSkip uint16, err error) {
	if len(h) < 19 || string(h[:8]) != "OpusHead" {
		return nil, 0, 0, fmt.Errorf("%w: not an OpusHead", ErrCodecConfig)
	}
	if h[8]>>4 != 0 {
		return nil, 0, 0, fmt.Errorf("%w: OpusHead version %d", ErrCodecConfig, h[8])
	}
	ch := h[9]
	family := h[18]
	if ch == 0 {
		return nil, 0, 0, fmt.Errorf("%w: OpusHead with 0 channels", ErrCodecConfig)
	}
	dops = make([]byte, 0, 11+2+int(ch))
	dops = append(dops, 0, ch)                                                     // Version, OutputChannelCount
	dops = binary.BigEndian.AppendUint16(dops, binary.LittleEndian.Uint16(h[10:])) // PreSkip
	dops = binary.BigEndian.AppendUint32(dops, binary.LittleEndian.Uint32(h[12:])) // InputSampleRate
	dops = binary.BigEndian.AppendUint16(dops, binary.LittleEndian.Uint16(h[16:])) // OutputGain
	dops = append(dops, family)
	if family != 0 {
		if len(h) < 21+int(ch) {
			return nil, 0, 0, fmt.Errorf("%w: OpusHead channel mapping table truncated", ErrCodecConfig)
		}
		dops = append(dops, h[19:21+int(ch)]...) // StreamCount, CoupledCount, ChannelMapping
	} else if ch > 2 {
		return nil, 0, 0, fmt.Errorf("%w: OpusHead mapping family 0 with %d channels", ErrCodecConfig, ch)
	}
	return dops, uint16(ch), binary.LittleEndian.Uint16(h[10:]), nil
}
