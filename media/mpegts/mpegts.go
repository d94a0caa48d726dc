// Package mpegts writes MPEG transport stream segments (ISO/IEC 13818-1)
// of H.264, H.265 and AAC, as HLS serves them in its MPEG-TS mode
// (RFC 8216 §3.2): each segment starts with a PAT and a PMT, video access
// units are carried in Annex B form (ISO/IEC 14496-10 Annex B, ITU-T H.265
// Annex B) with an access unit delimiter and, on key frames, the parameter
// sets, and AAC frames in ADTS (ISO/IEC 13818-7 §6.2).
//
// Input samples come in the form MP4 and Matroska store them: video access
// units with 4-byte NAL unit lengths, raw AAC frames. The packets
// themselves are written by github.com/asticode/go-astits.
package mpegts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/asticode/go-astits"

	"github.com/openkvs/openkvs/media/h26x"
)

// Codec identifies the coding format of a track.
type Codec uint8

// The codecs a Writer can carry.
const (
	H264 Codec = iota + 1 // stream_type 0x1B
	H265                  // stream_type 0x24
	AAC                   // stream_type 0x0F, ADTS
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
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// Errors returned by this package, wrapped with context.
var (
	// ErrCodecConfig reports codec private data that cannot be used.
	ErrCodecConfig = errors.New("mpegts: invalid codec configuration")
	// ErrInvalidSample reports a sample that cannot be written.
	ErrInvalidSample = errors.New("mpegts: invalid sample")
)

// Track describes one elementary stream.
type Track struct {
	Codec Codec
	// CodecPrivate is the codec configuration as MP4 and Matroska hold
	// it: an AVCDecoderConfigurationRecord (H264), an
	// HEVCDecoderConfigurationRecord (H265) or an AudioSpecificConfig
	// (AAC).
	CodecPrivate []byte
}

// Sample is one access unit or audio frame.
type Sample struct {
	// PTS and DTS are the presentation and decoding times in
	// nanoseconds on any non-negative timeline; they are written in
	// 90 kHz units modulo 2^33 as the PES header carries them. DTS must
	// not be after PTS.
	PTS, DTS int64
	// Keyframe marks a random access point (an IDR/IRAP access unit).
	Keyframe bool
	// Data is the access unit with 4-byte NAL unit lengths (video) or
	// one raw AAC frame (audio).
	Data []byte
}

// First elementary stream PID; tracks get consecutive PIDs.
const firstPID = 0x100

type track struct {
	Track
	pid     uint16
	params  [][]byte // parameter sets inserted before key frames
	adts    [7]byte  // ADTS header template
	started bool     // a PES has been written on the PID
}

// Writer writes one transport stream. It is not safe for concurrent use.
type Writer struct {
	mux    *astits.Muxer
	tracks []track
	pcrPID uint16
	buf    []byte
	err    error
}

// NewWriter returns a Writer of a transport stream holding tracks, in one
// program whose clock reference is carried on the first video track (or the
// first track).
func NewWriter(w io.Writer, tracks []Track) (*Writer, error) {
	if len(tracks) == 0 {
		return nil, fmt.Errorf("%w: no tracks", ErrCodecConfig)
	}
	tw := &Writer{mux: astits.NewMuxer(context.Background(), w)}
	pcr := -1
	for i, t := range tracks {
		tr := track{Track: t, pid: firstPID + uint16(i)}
		var st astits.StreamType
		switch t.Codec {
		case H264:
			st = astits.StreamTypeH264Video
			c, err := h26x.ParseAVCDecoderConfig(t.CodecPrivate)
			if err != nil {
				return nil, fmt.Errorf("%w: track %d: %w", ErrCodecConfig, i, err)
			}
			tr.params = append(append(tr.params, c.SPS...), c.PPS...)
		case H265:
			st = astits.StreamTypeH265Video
			c, err := h26x.ParseHEVCDecoderConfig(t.CodecPrivate)
			if err != nil {
				return nil, fmt.Errorf("%w: track %d: %w", ErrCodecConfig, i, err)
			}
			tr.params = append(append(append(tr.params, c.VPS()...), c.SPS()...), c.PPS()...)
		case AAC:
			st = astits.StreamTypeAACAudio
			h, err := adtsTemplate(t.CodecPrivate)
			if err != nil {
				return nil, fmt.Errorf("track %d: %w", i, err)
			}
			tr.adts = h
		default:
			return nil, fmt.Errorf("%w: track %d: codec %v", ErrCodecConfig, i, t.Codec)
		}
		if pcr < 0 && t.Codec != AAC {
			pcr = i
		}
		if err := tw.mux.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: tr.pid, StreamType: st}); err != nil {
			return nil, fmt.Errorf("mpegts: %w", err)
		}
		tw.tracks = append(tw.tracks, tr)
	}
	if pcr < 0 {
		pcr = 0
	}
	tw.pcrPID = tw.tracks[pcr].pid
	tw.mux.SetPCRPID(tw.pcrPID)
	return tw, nil
}

// ticks90k converts nanoseconds to the 33-bit 90 kHz PES clock.
func ticks90k(ns int64) int64 {
	if ns < 0 {
		ns = 0
	}
	u := uint64(ns)
	return int64((u/1e9*90000 + u%1e9*90000/1e9) & (1<<33 - 1))
}

// WriteSample writes sample s of track i as one PES packet.
func (w *Writer) WriteSample(i int, s Sample) error {
	if w.err != nil {
		return w.err
	}
	if i < 0 || i >= len(w.tracks) {
		return fmt.Errorf("%w: track %d of %d", ErrInvalidSample, i, len(w.tracks))
	}
	if s.DTS > s.PTS {
		return fmt.Errorf("%w: DTS %d after PTS %d", ErrInvalidSample, s.DTS, s.PTS)
	}
	t := &w.tracks[i]
	var err error
	var streamID uint8
	switch t.Codec {
	case H264, H265:
		streamID = 0xE0
		w.buf, err = t.annexB(w.buf[:0], s)
	case AAC:
		streamID = 0xC0
		w.buf, err = t.adtsFrame(w.buf[:0], s.Data)
	}
	if err != nil {
		return err
	}
	pts, dts := ticks90k(s.PTS), ticks90k(s.DTS)
	oh := &astits.PESOptionalHeader{MarkerBits: 2, PTS: &astits.ClockReference{Base: pts}, DataAlignmentIndicator: true}
	if pts != dts {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorBothPresent
		oh.DTS = &astits.ClockReference{Base: dts}
	} else {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorOnlyPTS
	}
	d := &astits.MuxerData{
		PID: t.pid,
		PES: &astits.PESData{Header: &astits.PESHeader{StreamID: streamID, OptionalHeader: oh}, Data: w.buf},
	}
	var af *astits.PacketAdaptationField
	if t.pid == w.pcrPID {
		// A clock reference with every PES of the PCR PID keeps
		// PCR intervals under the 100 ms ISO/IEC 13818-1 §2.7.2 asks.
		af = &astits.PacketAdaptationField{HasPCR: true, PCR: &astits.ClockReference{Base: dts}}
	}
	if s.Keyframe && t.Codec != AAC {
		if af == nil {
			af = &astits.PacketAdaptationField{}
		}
		af.RandomAccessIndicator = true
	}
	if !t.started {
		// Each segment starts its continuity counters afresh; say so,
		// so that demuxers reading segment after segment do not
		// report lost packets (§2.4.3.5).
		if af == nil {
			af = &astits.PacketAdaptationField{}
		}
		af.DiscontinuityIndicator = true
		t.started = true
	}
	d.AdaptationField = af
	if _, err := w.mux.WriteData(d); err != nil {
		w.err = fmt.Errorf("mpegts: %w", err)
		return w.err
	}
	return nil
}

// Close writes the tables if no sample was written. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	for _, t := range w.tracks {
		if t.started {
			return nil
		}
	}
	if _, err := w.mux.WriteTables(); err != nil {
		return fmt.Errorf("mpegts: %w", err)
	}
	return nil
}

// annexB appends the access unit s in Annex B form: an access unit
// delimiter, the parameter sets on key frames that lack them, then its NAL
// units.
func (t *track) annexB(dst []byte, s Sample) ([]byte, error) {
	hasAUD, hasParams := false, false
	for n := range h26x.AVCCUnits(s.Data) {
		if len(n) == 0 {
			continue
		}
		if t.Codec == H264 {
			switch h26x.H264Type(n) {
			case h26x.H264NALAUD:
				hasAUD = true
			case h26x.H264NALSPS:
				hasParams = true
			}
		} else {
			switch h26x.H265Type(n) {
			case h26x.H265NALAUD:
				hasAUD = true
			case h26x.H265NALSPS:
				hasParams = true
			}
		}
	}
	if !hasAUD {
		if t.Codec == H264 {
			dst = append(dst, 0, 0, 0, 1, 0x09, 0xF0) // AUD, primary_pic_type 7
		} else {
			dst = append(dst, 0, 0, 0, 1, 0x46, 0x01, 0x50) // AUD, pic_type 2
		}
	}
	if s.Keyframe && !hasParams {
		for _, p := range t.params {
			dst = append(dst, 0, 0, 0, 1)
			dst = append(dst, p...)
		}
	}
	dst, err := h26x.AVCCToAnnexB(dst, s.Data)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalidSample, err)
	}
	return dst, nil
}

// adtsTemplate builds the fixed part of the ADTS header (ISO/IEC 13818-7
// §6.2.1) from an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
func adtsTemplate(asc []byte) ([7]byte, error) {
	var h [7]byte
	if len(asc) < 2 {
		return h, fmt.Errorf("%w: AudioSpecificConfig of %d bytes", ErrCodecConfig, len(asc))
	}
	aot := asc[0] >> 3
	freq := (asc[0]&7)<<1 | asc[1]>>7
	ch := (asc[1] >> 3) & 0xF
	switch {
	case aot == 5 || aot == 29:
		aot = 2 // SBR/PS signalled explicitly: ADTS carries the AAC-LC core
	case aot < 1 || aot > 4:
		return h, fmt.Errorf("%w: audioObjectType %d cannot be carried in ADTS", ErrCodecConfig, aot)
	}
	if freq > 12 {
		return h, fmt.Errorf("%w: samplingFrequencyIndex %d cannot be carried in ADTS", ErrCodecConfig, freq)
	}
	if ch > 7 {
		return h, fmt.Errorf("%w: channelConfiguration %d", ErrCodecConfig, ch)
	}
	h[0] = 0xFF
	h[1] = 0xF1 // syncword end, MPEG-4, layer 0, no CRC
	h[2] = (aot-1)<<6 | freq<<2 | ch>>2
	h[3] = (ch & 3) << 6
	return h, nil
}

// adtsFrame appends one AAC frame with its ADTS header.
func (t *track) adtsFrame(dst, frame []byte) ([]byte, error) {
	n := len(frame) + 7
	if n > 1<<13-1 {
		return dst, fmt.Errorf("%w: AAC frame of %d bytes", ErrInvalidSample, len(frame))
	}
	h := t.adts
	h[3] |= byte(n >> 11)
	h[4] = byte(n >> 3)
	h[5] = byte(n<<5) | 0x1F // buffer fullness 0x7FF (VBR)
	h[6] = 0xFC              // buffer fullness, one raw data block
	dst = append(dst, h[:]...)
	return append(dst, frame...), nil
}
