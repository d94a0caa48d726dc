package kvswebrtc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/openkvs/openkvs/media/h26x"
	"github.com/openkvs/openkvs/media/mkv"
)

// codecSetter is implemented by writers that need the track's codec before
// its first packet; the Viewer calls it.
type codecSetter interface {
	SetCodec(mime string) error
}

// MKVRecorder writes the received video (H.264, H.265 or VP8) and audio
// (Opus) into one Matroska file with media/mkv: a Cluster per video key
// frame, block times from the RTP timestamps, both tracks aligned on the
// arrival of their first frame. The header is written at the first video
// key frame (the parameter sets go into CodecPrivate) once the audio's
// codec is known too, or a second later without it. Use Video and Audio
// as the Viewer's VideoOut and AudioOut.
type MKVRecorder struct {
	mu      sync.Mutex // guards everything below; both tracks write
	f       *os.File
	bw      *bufio.Writer
	w       *mkv.Writer
	start   time.Time // the wall clock of time 0
	header  bool
	err     error
	cluster int64 // current Cluster's time (ms); -1 before the first
	closed  int   // Close calls of the two track writers
	tracks  [2]*mkvTrack
	waitVid bool // video expected: the header waits for its key frame
	pending []pendingFrame
	readyAt time.Time // when the video became ready, header not yet written
}

// mkvTrack is one track's depacketizer and timing.
type mkvTrack struct {
	rec    *MKVRecorder
	number uint64
	mime   string
	clock  uint32
	sb     *samplebuilder.SampleBuilder
	base   int64  // ms of the first sample on the recording's clock
	first  uint32 // RTP timestamp of the first sample
	seen   bool
	entry  mkv.Track
	ready  bool // entry complete (video: parameter sets seen)
	inHdr  bool // in the written Tracks
	// vps, sps and pps are the latest parameter sets seen: they may come
	// in a sample of their own, before the key frame.
	vps, sps, pps []byte
}

// pendingFrame is a frame held until the header can be written.
type pendingFrame struct {
	t   *mkvTrack
	ms  int64
	key bool
	b   []byte
}

// NewMKVRecorder creates path; video and audio say which tracks it will
// get.
func NewMKVRecorder(path string, video, audio bool) (*MKVRecorder, error) {
	if !video && !audio {
		return nil, errors.New("kvswebrtc: mkv: no track to record")
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: mkv: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	w, err := mkv.NewWriter(bw, mkv.WriterConfig{})
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &MKVRecorder{f: f, bw: bw, w: w, cluster: -1, waitVid: video, start: time.Now()}
	n := uint64(1)
	if video {
		r.tracks[0] = &mkvTrack{rec: r, number: n}
		n++
	}
	if audio {
		r.tracks[1] = &mkvTrack{rec: r, number: n}
	}
	return r, nil
}

// Video returns the writer for the video track (nil if none was asked
// for).
func (r *MKVRecorder) Video() RTPWriter {
	if r.tracks[0] == nil {
		return nil
	}
	return r.tracks[0]
}

// Audio returns the writer for the audio track (nil if none was asked
// for).
func (r *MKVRecorder) Audio() RTPWriter {
	if r.tracks[1] == nil {
		return nil
	}
	return r.tracks[1]
}

// SetCodec implements codecSetter.
func (t *mkvTrack) SetCodec(mime string) error {
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	t.mime = mime
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeH264):
		t.clock, t.sb = 90000, samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		t.entry = mkv.Track{Number: t.number, UID: t.number, Type: mkv.TrackTypeVideo, CodecID: "V_MPEG4/ISO/AVC"}
	case strings.ToLower(webrtc.MimeTypeH265):
		t.clock, t.sb = 90000, samplebuilder.New(256, &codecs.H265Depacketizer{}, 90000)
		t.entry = mkv.Track{Number: t.number, UID: t.number, Type: mkv.TrackTypeVideo, CodecID: "V_MPEGH/ISO/HEVC"}
	case strings.ToLower(webrtc.MimeTypeVP8):
		t.clock, t.sb = 90000, samplebuilder.New(256, &codecs.VP8Packet{}, 90000)
		t.entry = mkv.Track{Number: t.number, UID: t.number, Type: mkv.TrackTypeVideo, CodecID: "V_VP8"}
	case strings.ToLower(webrtc.MimeTypeOpus):
		t.clock, t.sb = 48000, samplebuilder.New(64, &codecs.OpusPacket{}, 48000)
		t.entry = mkv.Track{Number: t.number, UID: t.number, Type: mkv.TrackTypeAudio, CodecID: "A_OPUS",
			CodecPrivate: opusHead(2), Audio: &mkv.AudioTrack{SamplingFrequency: 48000, Channels: 2}}
		t.ready = true
	default:
		return fmt.Errorf("%w: mkv cannot hold %s", ErrUnknownFormat, mime)
	}
	return nil
}

// opusHead is the OpusHead header (RFC 7845 §5.1) Matroska's A_OPUS
// CodecPrivate holds: version 1, channels, no pre-skip, 48 kHz, no gain,
// mapping family 0.
func opusHead(channels byte) []byte {
	b := []byte("OpusHead")
	b = append(b, 1, channels, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	return append(b, 0, 0, 0)
}

// WriteRTP implements RTPWriter.
func (t *mkvTrack) WriteRTP(p *rtp.Packet) error {
	r := t.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if t.sb == nil {
		return errors.New("kvswebrtc: mkv: packet before SetCodec")
	}
	t.sb.Push(p)
	for s := t.sb.Pop(); s != nil; s = t.sb.Pop() {
		if err := t.sample(s); err != nil {
			r.err = err
			return err
		}
	}
	return nil
}

// sample converts and writes one depacketized frame. r.mu is held.
func (t *mkvTrack) sample(s *media.Sample) error {
	r := t.rec
	key := true
	data := s.Data
	switch t.entry.CodecID {
	case "V_MPEG4/ISO/AVC", "V_MPEGH/ISO/HEVC":
		c := h26x.H264
		if t.entry.CodecID == "V_MPEGH/ISO/HEVC" {
			c = h26x.H265
		}
		t.keepParameterSets(c, data)
		key = h26x.IsKeyFrameAnnexB(c, data)
		if !t.ready && (!key || !t.setParameterSets(c)) {
			return nil // wait for a key frame and its parameter sets
		}
		data = h26x.AnnexBToAVCC(nil, data)
	case "V_VP8":
		key = len(data) > 0 && data[0]&1 == 0
		if !t.ready && !key {
			return nil
		}
		t.ready = true
	}
	now := time.Now()
	if !t.seen {
		t.seen, t.first = true, s.PacketTimestamp
		t.base = now.Sub(r.start).Milliseconds()
	}
	ms := t.base + int64(s.PacketTimestamp-t.first)*1000/int64(t.clock)
	if !r.header {
		if t.entry.Type == mkv.TrackTypeAudio && r.waitVid && !r.tracks[0].ready {
			return nil // audio before the first video key frame
		}
		if len(r.pending) < maxGOP {
			r.pending = append(r.pending, pendingFrame{t, ms, key, data})
		}
		return r.maybeHeader(now)
	}
	if !t.inHdr {
		return nil // its codec came after the header was written
	}
	return r.write(t, ms, key, data)
}

// headerWait is how long the header waits for a track whose codec is not
// known yet (its first packet has not come) once the video is ready.
const headerWait = time.Second

// maybeHeader writes the header and the pending frames once every
// expected track has its codec and is ready, or the video has waited
// headerWait for the others. r.mu is held.
func (r *MKVRecorder) maybeHeader(now time.Time) error {
	if v := r.tracks[0]; v != nil && !v.ready {
		return nil
	}
	if r.readyAt.IsZero() {
		r.readyAt = now
	}
	for _, t := range r.tracks {
		if t != nil && (t.sb == nil || !t.ready) && now.Sub(r.readyAt) < headerWait {
			return nil
		}
	}
	if err := r.writeHeader(); err != nil {
		return err
	}
	pending := r.pending
	r.pending = nil
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].ms < pending[j].ms })
	for _, f := range pending {
		if f.t.inHdr {
			if err := r.write(f.t, f.ms, f.key, f.b); err != nil {
				return err
			}
		}
	}
	return nil
}

// write writes one frame, opening a Cluster at each video key frame and
// whenever the block's relative time would not fit. r.mu is held.
func (r *MKVRecorder) write(t *mkvTrack, ms int64, key bool, data []byte) error {
	video := t.entry.Type == mkv.TrackTypeVideo
	if r.cluster < 0 || (video && key) || ms-r.cluster > 30000 || ms-r.cluster < -30000 {
		c := max(ms, 0)
		if err := r.w.BeginCluster(uint64(c)); err != nil {
			return err
		}
		r.cluster = c
	}
	return r.w.WriteFrame(mkv.Frame{Track: t.number, Timecode: int16(ms - r.cluster), Keyframe: key, Data: data})
}

// keepParameterSets remembers the parameter sets of an access unit.
func (t *mkvTrack) keepParameterSets(c h26x.Codec, au []byte) {
	for n := range h26x.AnnexBUnits(au) {
		if c == h26x.H264 {
			switch h26x.H264Type(n) {
			case h26x.H264NALSPS:
				t.sps = append(t.sps[:0], n...)
			case h26x.H264NALPPS:
				t.pps = append(t.pps[:0], n...)
			}
			continue
		}
		switch h26x.H265Type(n) {
		case h26x.H265NALVPS:
			t.vps = append(t.vps[:0], n...)
		case h26x.H265NALSPS:
			t.sps = append(t.sps[:0], n...)
		case h26x.H265NALPPS:
			t.pps = append(t.pps[:0], n...)
		}
	}
}

// setParameterSets builds CodecPrivate from the parameter sets seen;
// false if some are missing.
func (t *mkvTrack) setParameterSets(c h26x.Codec) bool {
	if t.sps == nil || t.pps == nil || (c == h26x.H265 && t.vps == nil) {
		return false
	}
	sps, pps := [][]byte{t.sps}, [][]byte{t.pps}
	var (
		priv []byte
		err  error
	)
	if c == h26x.H264 {
		var cfg *h26x.AVCDecoderConfig
		if cfg, err = h26x.NewAVCDecoderConfig(sps, pps); err == nil {
			priv, err = cfg.Bytes()
		}
		if s, perr := h26x.ParseH264SPS(t.sps); perr == nil {
			t.entry.Video = &mkv.VideoTrack{PixelWidth: uint64(s.Width), PixelHeight: uint64(s.Height)}
		}
	} else {
		var cfg *h26x.HEVCDecoderConfig
		if cfg, err = h26x.NewHEVCDecoderConfig([][]byte{t.vps}, sps, pps); err == nil {
			priv, err = cfg.Bytes()
		}
		if s, perr := h26x.ParseH265SPS(t.sps); perr == nil {
			t.entry.Video = &mkv.VideoTrack{PixelWidth: uint64(s.Width), PixelHeight: uint64(s.Height)}
		}
	}
	if err != nil {
		return false
	}
	t.entry.CodecPrivate, t.ready = priv, true
	return true
}

// writeHeader writes the EBML header, Info and Tracks once every track
// with a codec is ready. r.mu is held.
func (r *MKVRecorder) writeHeader() error {
	var tracks []mkv.Track
	for _, t := range r.tracks {
		if t == nil || t.sb == nil {
			continue
		}
		if !t.ready {
			if t.entry.Type == mkv.TrackTypeVideo {
				return nil
			}
			continue
		}
		tracks = append(tracks, t.entry)
		t.inHdr = true
	}
	if err := r.w.WriteHeader(tracks); err != nil {
		return err
	}
	r.header = true
	return nil
}

// Close implements RTPWriter: the file is flushed and closed when both
// track writers are closed.
func (t *mkvTrack) Close() error {
	r := t.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed++
	n := 0
	for _, tr := range r.tracks {
		if tr != nil {
			n++
		}
	}
	if r.closed < n || r.f == nil {
		return nil
	}
	err := r.bw.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	if err == nil && !r.header {
		err = errors.New("kvswebrtc: mkv: nothing recorded (no video key frame)")
	}
	return err
}
