package playback

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/media/fmp4"
	"github.com/openkvs/openkvs/media/mkv"
)

// This file turns stored fragments (one MKV Cluster each, decoded with
// the Tracks element of their archive.Header) into timed samples, the
// common input of the fMP4, MPEG-TS and clip writers. Nothing is
// transcoded: sample payloads are the MKV frame bytes.

// mediaTrack is one track of a stream that can be remuxed.
type mediaTrack struct {
	// number is the MKV TrackNumber; it is also the MP4 track_ID.
	number uint64
	track  fmp4.Track
}

// mediaHeader is the decoded form of an archive.Header.
type mediaHeader struct {
	// doc is an EBML header, Segment, Info and the Tracks element: the
	// document start a stored Cluster is read after.
	doc    []byte
	scale  uint64 // nanoseconds per tick
	tracks []mediaTrack
}

// track returns the index in h.tracks of MKV track n, or -1.
func (h *mediaHeader) track(n uint64) int {
	for i := range h.tracks {
		if h.tracks[i].number == n {
			return i
		}
	}
	return -1
}

// fmp4Tracks returns the fMP4 track descriptions: all of them, or only
// track only when it is non-zero.
func (h *mediaHeader) fmp4Tracks(only uint64) []fmp4.Track {
	var ts []fmp4.Track
	for _, t := range h.tracks {
		if only == 0 || t.number == only {
			ts = append(ts, t.track)
		}
	}
	return ts
}

// video returns the first video track, or nil.
func (h *mediaHeader) video() *mediaTrack {
	for i := range h.tracks {
		if h.tracks[i].track.Codec.IsVideo() {
			return &h.tracks[i]
		}
	}
	return nil
}

// codecs returns the RFC 6381 codecs list of the tracks.
func (h *mediaHeader) codecs() string {
	var cs []string
	for _, t := range h.tracks {
		cs = append(cs, t.track.CodecString())
	}
	return strings.Join(cs, ",")
}

// mkvCodec maps Matroska CodecIDs (RFC 9559 §5.1.4.1.21 and the codec
// mappings) to the codecs the segment writers support.
func mkvCodec(id string) (fmp4.Codec, bool) {
	switch {
	case id == "V_MPEG4/ISO/AVC":
		return fmp4.H264, true
	case id == "V_MPEGH/ISO/HEVC":
		return fmp4.H265, true
	case id == "A_AAC" || strings.HasPrefix(id, "A_AAC/"):
		return fmp4.AAC, true
	case id == "A_OPUS":
		return fmp4.Opus, true
	}
	return 0, false
}

// parseHeader decodes an archive.Header. Tracks with codecs that cannot be
// remuxed are left out; a header with none left is an
// UnsupportedStreamMediaTypeException, missing or unparsable codec
// private data a MissingCodecPrivateDataException or
// InvalidCodecPrivateDataException, as KVS answers.
func parseHeader(ah *archive.Header) (*mediaHeader, error) {
	var doc bytes.Buffer
	w, err := mkv.NewWriter(&doc, mkv.WriterConfig{TimecodeScale: ah.TimecodeScale})
	if err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	if err := w.WriteHeaderRaw(ah.Tracks); err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	r := mkv.NewReader(bytes.NewReader(doc.Bytes()), mkv.ReaderConfig{})
	var tracks *mkv.Tracks
	for tracks == nil {
		ev, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("stream header: %w", err)
		}
		if ev == mkv.EventTracks {
			tracks = r.Tracks()
		}
	}
	h := &mediaHeader{doc: doc.Bytes(), scale: ah.TimecodeScale}
	if h.scale == 0 {
		h.scale = 1_000_000
	}
	var ids []string
	for _, t := range tracks.Entries {
		c, ok := mkvCodec(t.CodecID)
		if !ok || t.Encoded {
			ids = append(ids, t.CodecID)
			continue
		}
		if len(t.CodecPrivate) == 0 {
			return nil, awsapi.Errorf(awsapi.MissingCodecPrivateData, "No codec private data was found in track %d (%s) of the stream.", t.Number, t.CodecID)
		}
		ft, err := fmp4.NewTrack(uint32(t.Number), c, t.CodecPrivate)
		if err != nil {
			return nil, awsapi.Errorf(awsapi.InvalidCodecPrivateData, "The codec private data of track %d (%s) is not valid: %v.", t.Number, t.CodecID, err)
		}
		if l := t.Language; len(l) == 3 && l != "und" {
			ft.Language = l
		}
		h.tracks = append(h.tracks, mediaTrack{number: t.Number, track: ft})
	}
	if len(h.tracks) == 0 {
		return nil, awsapi.Errorf(awsapi.UnsupportedStreamMediaType,
			"The media type of the stream could not be played: track codec IDs %q; supported are V_MPEG4/ISO/AVC, V_MPEGH/ISO/HEVC, A_AAC and A_OPUS.", ids)
	}
	return h, nil
}

// headerCache keeps decoded headers by identity: the fragments of one
// PutMedia connection share one *archive.Header.
type headerCache struct {
	mu sync.Mutex
	m  map[*archive.Header]*mediaHeader
}

const maxCachedHeaders = 256

func (c *headerCache) get(ah *archive.Header) (*mediaHeader, error) {
	c.mu.Lock()
	h := c.m[ah]
	c.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := parseHeader(ah)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedHeaders {
		c.m = make(map[*archive.Header]*mediaHeader)
	}
	c.m[ah] = h
	c.mu.Unlock()
	return h, nil
}

// sameHeader reports whether two fragments decode with the same tracks.
func sameHeader(a, b *archive.Header) bool {
	return a == b || (a.TimecodeScale == b.TimecodeScale && bytes.Equal(a.Tracks, b.Tracks))
}

// mediaSample is one frame with absolute times in nanoseconds since the
// Unix epoch (producer time).
type mediaSample struct {
	pts, dts int64
	key      bool
	data     []byte
}

// demuxed is one fragment's samples by track (indices of mediaHeader.tracks),
// with the order in which the Cluster interleaved them.
type demuxed struct {
	tracks [][]mediaSample
	// order lists (track index, sample index) in Cluster order.
	order [][2]int32
	// start and end bound the fragment's presentation times.
	start, end int64
}

var errEmptyFragment = errors.New("fragment has no frames of a playable track")

// rawFrame is one frame found in a Cluster.
type rawFrame struct {
	track    uint64
	timecode int16
	key      bool
	data     []byte
}

// demux reads the Cluster bytes of fragment f. Sample data aliases cluster
// (or, for Clusters the fast path leaves to mkv.Reader, a copy).
func demux(h *mediaHeader, f *archive.Fragment, cluster []byte) (*demuxed, error) {
	frames, ok := walkCluster(cluster, nil)
	if !ok {
		var err error
		if frames, err = readCluster(h, f, cluster); err != nil {
			return nil, err
		}
	}
	d := &demuxed{tracks: make([][]mediaSample, len(h.tracks)), order: make([][2]int32, 0, len(frames))}
	counts := make([]int, len(h.tracks))
	for i := range frames {
		if ti := h.track(frames[i].track); ti >= 0 {
			counts[ti]++
		}
	}
	for ti, n := range counts {
		d.tracks[ti] = make([]mediaSample, 0, n)
	}
	base := f.ProducerTime.UnixNano()
	scale := int64(h.scale)
	first := true
	for i := range frames {
		fr := &frames[i]
		ti := h.track(fr.track)
		if ti < 0 || len(fr.data) == 0 {
			continue
		}
		pts := base + int64(fr.timecode)*scale
		key := fr.key || !h.tracks[ti].track.Codec.IsVideo()
		d.order = append(d.order, [2]int32{int32(ti), int32(len(d.tracks[ti]))})
		d.tracks[ti] = append(d.tracks[ti], mediaSample{pts: pts, dts: pts, key: key, data: fr.data})
		if first || pts < d.start {
			d.start = pts
		}
		if first || pts > d.end {
			d.end = pts
		}
		first = false
	}
	if first {
		return nil, fmt.Errorf("fragment %s: %w", f.Number, errEmptyFragment)
	}
	for ti, ss := range d.tracks {
		if h.tracks[ti].track.Codec.IsVideo() {
			deriveDTS(ss)
		}
	}
	return d, nil
}

// readCluster decodes a Cluster with mkv.Reader, which handles every
// Matroska form (lacing included), after the header's document start.
func readCluster(h *mediaHeader, f *archive.Fragment, cluster []byte) ([]rawFrame, error) {
	r := mkv.NewReader(io.MultiReader(bytes.NewReader(h.doc), bytes.NewReader(cluster)), mkv.ReaderConfig{
		MaxClusterSize: int64(len(cluster)) + 64,
		BufferSize:     32 << 10,
	})
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("fragment %s: no Cluster", f.Number)
			}
			return nil, fmt.Errorf("fragment %s: %w", f.Number, err)
		}
		if ev == mkv.EventCluster {
			break
		}
	}
	c := r.Cluster()
	frames := make([]rawFrame, len(c.Frames))
	for i, fr := range c.Frames {
		frames[i] = rawFrame{track: fr.Track, timecode: fr.Timecode, key: fr.Keyframe, data: fr.Data}
	}
	return frames, nil
}

// walkCluster lists the frames of a stored Cluster in place, without
// copying: the common form of unlaced SimpleBlocks and BlockGroups
// (RFC 9559 §10.1, §10.2, §5.1.3.5) of a known-size Cluster, which is how
// the archive keeps them. ok is false for anything else (lacing, damage),
// which readCluster then decodes or rejects.
func walkCluster(b []byte, dst []rawFrame) (frames []rawFrame, ok bool) {
	id, size, n, err := mkv.ParseElementHeader(b)
	if err != nil || id != mkv.IDCluster || size != int64(len(b)-n) {
		return nil, false
	}
	b = b[n:]
	frames = dst
	for len(b) > 0 {
		id, size, n, err := mkv.ParseElementHeader(b)
		if err != nil || size < 0 || size > int64(len(b)-n) {
			return nil, false
		}
		body := b[n : n+int(size)]
		b = b[n+int(size):]
		switch id {
		case mkv.IDSimpleBlock:
			f, ok := parseBlock(body)
			if !ok {
				return nil, false
			}
			f.key = body[len(body)-len(f.data)-1]&0x80 != 0
			frames = append(frames, f)
		case mkv.IDBlockGroup:
			var f rawFrame
			found, ref := false, false
			for len(body) > 0 {
				cid, csize, cn, err := mkv.ParseElementHeader(body)
				if err != nil || csize < 0 || csize > int64(len(body)-cn) {
					return nil, false
				}
				switch cid {
				case mkv.IDBlock:
					if f, ok = parseBlock(body[cn : cn+int(csize)]); !ok {
						return nil, false
					}
					found = true
				case mkv.IDReferenceBlock:
					ref = true
				}
				body = body[cn+int(csize):]
			}
			if !found {
				return nil, false
			}
			f.key = !ref
			frames = append(frames, f)
		}
	}
	return frames, true
}

// parseBlock decodes an unlaced Block or SimpleBlock body: track number
// (a VINT), 16-bit relative timecode, flags, frame data.
func parseBlock(b []byte) (rawFrame, bool) {
	if len(b) == 0 || b[0] == 0 {
		return rawFrame{}, false
	}
	l := 1
	for b[0]&(0x80>>(l-1)) == 0 {
		l++
	}
	if len(b) < l+3 {
		return rawFrame{}, false
	}
	track := uint64(b[0] & (0xFF >> l))
	for _, c := range b[1:l] {
		track = track<<8 | uint64(c)
	}
	flags := b[l+2]
	if flags&0x06 != 0 { // laced
		return rawFrame{}, false
	}
	return rawFrame{track: track, timecode: int16(uint16(b[l])<<8 | uint16(b[l+1])), data: b[l+3:]}, true
}

// deriveDTS sets decoding times for video samples whose Matroska
// timestamps are presentation times: the sorted presentation times, moved
// back by the largest amount needed to keep every sample's decoding time at
// or before its presentation time (ISO/IEC 14496-12 §8.6.1.1 wants
// CT = DT + offset with offsets that MPEG-TS can carry as PTS ≥ DTS).
func deriveDTS(ss []mediaSample) {
	if len(ss) < 2 {
		return
	}
	sorted := make([]int64, len(ss))
	inOrder := true
	for i := range ss {
		sorted[i] = ss[i].pts
		if i > 0 && ss[i].pts < ss[i-1].pts {
			inOrder = false
		}
	}
	if inOrder {
		return
	}
	slices.Sort(sorted)
	var shift int64
	for i := range ss {
		shift = max(shift, sorted[i]-ss[i].pts)
	}
	for i := range ss {
		ss[i].dts = sorted[i] - shift
	}
}

// ticks converts nanoseconds since the epoch to units of timescale
// without overflowing.
func ticks(ns int64, timescale uint32) uint64 {
	if ns < 0 {
		ns = 0
	}
	ts := uint64(timescale)
	u := uint64(ns)
	return u/1e9*ts + u%1e9*ts/1e9
}

// fmp4Fragment returns the fMP4 track fragments of d: all tracks, or only
// track only when it is non-zero. Times are absolute producer time in each track's
// timescale, so that consecutive segments line up on one timeline.
func fmp4Fragment(h *mediaHeader, d *demuxed, only uint64, buf []fmp4.Sample) []fmp4.TrackFragment {
	var tfs []fmp4.TrackFragment
	for ti, ss := range d.tracks {
		t := &h.tracks[ti]
		if len(ss) == 0 || (only != 0 && t.number != only) {
			continue
		}
		start := len(buf)
		for i := range ss {
			s := &ss[i]
			dt := ticks(s.dts, t.track.Timescale)
			pt := ticks(s.pts, t.track.Timescale)
			buf = append(buf, fmp4.Sample{
				DecodeTime:         dt,
				PresentationOffset: int32(int64(pt) - int64(dt)),
				Keyframe:           s.key,
				Data:               s.data,
			})
		}
		tfs = append(tfs, fmp4.TrackFragment{TrackID: t.track.ID, Samples: buf[start:len(buf):len(buf)]})
	}
	return tfs
}
