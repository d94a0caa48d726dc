package kvswebrtc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/openkvs/openkvs/kvswebrtc/sample"
	"github.com/openkvs/openkvs/media/h26x"
)

// Frame is one video access unit (Annex-B for H.264/H.265) or one audio
// packet.
type Frame struct {
	Data     []byte
	Duration time.Duration
	// Key marks a frame a decoder can start at.
	Key bool
}

// Source produces the frames of one track. NextFrame returns io.EOF at the
// end; the Master then loops sources that can (see Loop) and stops the
// track otherwise.
type Source interface {
	// MimeType is the track's codec, e.g. webrtc.MimeTypeH264.
	MimeType() string
	// NextFrame returns the next frame.
	NextFrame() (Frame, error)
}

// ErrUnknownFormat reports a media file whose kind OpenSource cannot tell.
var ErrUnknownFormat = errors.New("kvswebrtc: unknown media format")

// OpenSource opens a media file by its name: .h264/.264 (Annex-B
// H.264), .h265/.265/.hevc (Annex-B H.265), .ivf (VP8/VP9/AV1) or
// .ogg/.opus (Ogg Opus). fps sets the frame rate of Annex-B video, which
// carries none. The returned closer closes the file.
func OpenSource(path string, fps int) (Source, io.Closer, error) {
	format := FormatOf(path)
	if format == "" {
		return nil, nil, fmt.Errorf("%w: %s (want .h264, .h265, .ivf or .ogg)", ErrUnknownFormat, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("kvswebrtc: open media: %w", err)
	}
	s, err := NewSource(f, format, fps)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return s, f, nil
}

// FormatOf returns the format NewSource reads from a file name's
// extension, or "" if it is none of them.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		return "h264"
	case ".h265", ".265", ".hevc":
		return "h265"
	case ".ivf":
		return "ivf"
	case ".ogg", ".opus":
		return "ogg"
	}
	return ""
}

// NewSource reads media of format ("h264", "h265", "ivf" or "ogg") from
// r, a file or a pipe; fps is the frame rate of Annex-B video.
func NewSource(r io.Reader, format string, fps int) (Source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	switch format {
	case "h264":
		return NewAnnexBSource(br, h26x.H264, fps), nil
	case "h265":
		return NewAnnexBSource(br, h26x.H265, fps), nil
	case "ivf":
		return NewIVFSource(br)
	case "ogg":
		return NewOggSource(br)
	}
	return nil, fmt.Errorf("%w: %q (want h264, h265, ivf or ogg)", ErrUnknownFormat, format)
}

// SampleSource returns a loop of one of the files of package sample
// (sample.H264, sample.H265, sample.VP8 or sample.Opus).
func SampleSource(name string) (*LoopSource, error) {
	b, err := sample.Bytes(name)
	if err != nil {
		return nil, err
	}
	src, err := NewSource(bytes.NewReader(b), FormatOf(name), 25)
	if err != nil {
		return nil, err
	}
	return Loop(src)
}

// AnnexBSource reads H.264 or H.265 access units from an Annex-B byte
// stream (a file or a pipe such as ffmpeg -f h264 -).
type AnnexBSource struct {
	codec    h26x.Codec
	r        io.ByteReader
	duration time.Duration
	nal      []byte // the NAL unit being read
	next     []byte // the first NAL unit of the next access unit
	zeros    int
	started  bool
	eof      bool
}

// NewAnnexBSource reads codec from r at fps frames a second (default 25).
func NewAnnexBSource(r io.ByteReader, codec h26x.Codec, fps int) *AnnexBSource {
	if fps <= 0 {
		fps = 25
	}
	return &AnnexBSource{codec: codec, r: r, duration: time.Second / time.Duration(fps)}
}

// MimeType implements Source.
func (s *AnnexBSource) MimeType() string {
	if s.codec == h26x.H265 {
		return webrtc.MimeTypeH265
	}
	return webrtc.MimeTypeH264
}

// nextNAL returns the next NAL unit without its start code.
func (s *AnnexBSource) nextNAL() ([]byte, error) {
	for !s.eof {
		b, err := s.r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, err
			}
			s.eof = true
			break
		}
		switch {
		case b == 0:
			s.zeros++
			continue
		case b == 1 && s.zeros >= 2:
			s.zeros = 0
			nal := s.nal
			s.nal = nil
			if s.started && len(nal) > 0 {
				return nal, nil
			}
			s.started = true
			continue
		}
		for ; s.zeros > 0; s.zeros-- {
			s.nal = append(s.nal, 0)
		}
		s.nal = append(s.nal, b)
	}
	nal := s.nal
	s.nal = nil
	if s.started && len(nal) > 0 {
		return nal, nil
	}
	return nil, io.EOF
}

// firstOfAU reports whether nal starts a new access unit once the current
// one has a picture (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4, simplified: a
// parameter set, AUD or prefix SEI, or the first slice of a picture).
func (s *AnnexBSource) firstOfAU(nal []byte) (first, vcl bool) {
	if s.codec == h26x.H265 {
		t := h26x.H265Type(nal)
		if t.IsVCL() {
			return len(nal) > 2 && nal[2]&0x80 != 0, true
		}
		switch t {
		case h26x.H265NALVPS, h26x.H265NALSPS, h26x.H265NALPPS, h26x.H265NALAUD, h26x.H265NALPrefixSEI:
			return true, false
		}
		return false, false
	}
	t := h26x.H264Type(nal)
	if t.IsVCL() {
		// first_mb_in_slice == 0 is ue(v) "1".
		return len(nal) > 1 && nal[1]&0x80 != 0, true
	}
	switch t {
	case h26x.H264NALSPS, h26x.H264NALPPS, h26x.H264NALAUD, h26x.H264NALSEI:
		return true, false
	}
	return false, false
}

// NextFrame implements Source: the next access unit in Annex-B form.
func (s *AnnexBSource) NextFrame() (Frame, error) {
	var f Frame
	havePicture := false
	add := func(nal []byte) {
		f.Data = append(f.Data, 0, 0, 0, 1)
		f.Data = append(f.Data, nal...)
		if h26x.IsKeyFrameNALU(s.codec, nal) {
			f.Key = true
		}
	}
	if s.next != nil {
		_, vcl := s.firstOfAU(s.next)
		havePicture = vcl
		add(s.next)
		s.next = nil
	}
	for {
		nal, err := s.nextNAL()
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.Data) > 0 {
				f.Duration = s.duration
				return f, nil
			}
			return Frame{}, err
		}
		first, vcl := s.firstOfAU(nal)
		if havePicture && first {
			s.next = nal
			f.Duration = s.duration
			return f, nil
		}
		havePicture = havePicture || vcl
		add(nal)
	}
}

// IVFSource reads VP8, VP9 or AV1 frames from an IVF file: a 32-byte
// header ("DKIF", version, header size, FourCC, width, height, time base
// rate and scale, frame count) and frames of a 12-byte header (size,
// 64-bit timestamp in scale/rate seconds) and data, all little-endian.
type IVFSource struct {
	r        io.Reader
	mime     string
	timebase time.Duration // one timestamp unit
	pending  *Frame
	pendTS   uint64
}

// maxIVFGap is the longest frame duration an IVF source reports; a longer
// gap between timestamps is taken for a broken file.
const maxIVFGap = 10 * time.Second

// NewIVFSource reads the IVF header from r.
func NewIVFSource(r io.Reader) (*IVFSource, error) {
	var h [32]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("kvswebrtc: ivf header: %w", err)
	}
	if string(h[:4]) != "DKIF" {
		return nil, fmt.Errorf("%w: no IVF signature", ErrUnknownFormat)
	}
	if n := binary.LittleEndian.Uint16(h[6:]); n > 32 {
		if _, err := io.CopyN(io.Discard, r, int64(n)-32); err != nil {
			return nil, fmt.Errorf("kvswebrtc: ivf header: %w", err)
		}
	}
	s := &IVFSource{r: r}
	switch string(h[8:12]) {
	case "VP80":
		s.mime = webrtc.MimeTypeVP8
	case "VP90":
		s.mime = webrtc.MimeTypeVP9
	case "AV01":
		s.mime = webrtc.MimeTypeAV1
	default:
		return nil, fmt.Errorf("%w: ivf fourcc %q", ErrUnknownFormat, h[8:12])
	}
	rate, scale := binary.LittleEndian.Uint32(h[16:]), binary.LittleEndian.Uint32(h[20:])
	s.timebase = 40 * time.Millisecond
	if rate != 0 && scale != 0 {
		// A timebase outside 1 µs .. 10 s is a broken header.
		if tb := time.Duration(uint64(time.Second) * uint64(scale) / uint64(rate)); tb >= time.Microsecond && tb <= maxIVFGap {
			s.timebase = tb
		}
	}
	return s, nil
}

// MimeType implements Source.
func (s *IVFSource) MimeType() string { return s.mime }

func (s *IVFSource) readFrame() ([]byte, uint64, error) {
	var h [12]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF // a cut-off last frame ends the stream
		}
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n > 16<<20 {
		return nil, 0, fmt.Errorf("kvswebrtc: ivf frame of %d bytes", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(s.r, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return nil, 0, err
	}
	return data, binary.LittleEndian.Uint64(h[4:]), nil
}

// NextFrame implements Source. A frame's duration is the gap to the next
// frame's timestamp, so frames are returned one read late.
func (s *IVFSource) NextFrame() (Frame, error) {
	for {
		data, ts, err := s.readFrame()
		if err != nil {
			if s.pending != nil && errors.Is(err, io.EOF) {
				f := *s.pending
				s.pending = nil
				f.Duration = s.timebase
				return f, nil
			}
			return Frame{}, err
		}
		f := &Frame{Data: data, Key: s.isKey(data)}
		if s.pending == nil {
			s.pending, s.pendTS = f, ts
			continue
		}
		out := *s.pending
		// A gap that goes back or is longer than maxIVFGap (checked
		// before multiplying, which could overflow) counts as one tick.
		out.Duration = s.timebase
		if ts > s.pendTS && ts-s.pendTS <= uint64(maxIVFGap/s.timebase) {
			out.Duration = time.Duration(ts-s.pendTS) * s.timebase
		}
		s.pending, s.pendTS = f, ts
		return out, nil
	}
}

func (s *IVFSource) isKey(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	switch s.mime {
	case webrtc.MimeTypeVP8:
		return data[0]&1 == 0 // RFC 6386 §9.1: frame type 0 is a key frame
	case webrtc.MimeTypeVP9:
		// frame_marker(2) profile(2, +1 reserved bit for profile 3)
		// show_existing_frame(1) frame_type(1): 0 is KEY_FRAME.
		b := data[0]
		profile := (b>>5)&1 | (b>>4)&2
		shift := 3
		if profile == 3 {
			shift = 2
		}
		if (b>>shift)&1 == 1 { // show_existing_frame
			return false
		}
		return (b>>(shift-1))&1 == 0
	}
	return true
}

// OggSource reads Opus packets from an Ogg file, one per page (as ffmpeg
// writes with -page_duration 20000); a page's duration is its granule
// position step at 48 kHz.
type OggSource struct {
	r    *oggreader.OggReader
	last uint64
}

// NewOggSource reads the Ogg Opus headers from r.
func NewOggSource(r io.Reader) (*OggSource, error) {
	or, _, err := oggreader.NewWith(r)
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: ogg: %w", err)
	}
	return &OggSource{r: or}, nil
}

// MimeType implements Source.
func (s *OggSource) MimeType() string { return webrtc.MimeTypeOpus }

// NextFrame implements Source.
func (s *OggSource) NextFrame() (Frame, error) {
	for {
		data, h, err := s.r.ParseNextPage()
		if err != nil {
			return Frame{}, err
		}
		if len(data) >= 8 && (string(data[:8]) == "OpusTags" || string(data[:8]) == "OpusHead") {
			continue
		}
		step := h.GranulePosition - s.last
		s.last = h.GranulePosition
		d := time.Duration(step) * time.Second / 48000
		if d <= 0 || d > time.Second {
			d = 20 * time.Millisecond
		}
		return Frame{Data: data, Duration: d, Key: true}, nil
	}
}

// LoopSource replays frames read once into memory, forever.
type LoopSource struct {
	mime   string
	frames []Frame
	i      int
}

// Loop reads src to the end and returns a source that replays its frames
// in a loop. For video the first frame must be a key frame.
func Loop(src Source) (*LoopSource, error) {
	s := &LoopSource{mime: src.MimeType()}
	for {
		f, err := src.NextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		s.frames = append(s.frames, f)
	}
	if len(s.frames) == 0 {
		return nil, errors.New("kvswebrtc: loop: no frames")
	}
	return s, nil
}

// MimeType implements Source.
func (s *LoopSource) MimeType() string { return s.mime }

// NextFrame implements Source; it never ends.
func (s *LoopSource) NextFrame() (Frame, error) {
	f := s.frames[s.i]
	s.i = (s.i + 1) % len(s.frames)
	return f, nil
}

// Len returns the number of frames in the loop.
func (s *LoopSource) Len() int { return len(s.frames) }
