package fmp4

import (
	"fmt"
	"io"
	"math"
)

// ClipSample describes one sample of a progressive MP4 file without its
// data: the sample table is written before the data (see ClipWriter).
type ClipSample struct {
	// Track is the index of the sample's track in the slice given to
	// NewClipWriter.
	Track int
	// DecodeTime is the decoding timestamp in the track's timescale.
	// Tracks may start at different times; the file's timeline starts
	// at the earliest presentation time of any track.
	DecodeTime uint64
	// PresentationOffset is the presentation time minus the decode time.
	PresentationOffset int32
	// Duration is the sample duration; zero means the distance to the
	// DecodeTime of the track's next sample, and for a track's last sample
	// the duration of the one before it.
	Duration uint32
	// Size is the length of the sample data in bytes.
	Size uint32
	// Keyframe marks a sync sample. Audio samples are always sync
	// samples, whatever this says.
	Keyframe bool
}

// ClipWriter writes a progressive (non-fragmented) MP4 file with the movie
// box first, the layout browsers and players can start playing before the
// whole file has arrived ("faststart"): ftyp, a moov with complete sample
// tables (stts, ctts, stss, stsz, stsc, co64; ISO/IEC 14496-12 §8.6-8.7) and
// one mdat holding the sample data.
//
// Putting moov first means its chunk offsets must be known before any
// sample data is written, so the writer takes the whole sample table up
// front (from an index of the source fragments: sizes, times, key frames),
// then streams the sample data through in exactly that order without
// holding it. The other classic layout, mdat first and moov last, would
// accept samples of unknown size but forces players to seek to the end of
// the file before they can play, which GetClip's browser consumers handle
// poorly. The total file size is known before writing (Size), so an HTTP
// handler can send Content-Length.
//
// Consecutive samples of the same track form one chunk, so the data layout
// is the caller's sample order: interleave audio and video in decode-time
// order as they come from the source.
type ClipWriter struct {
	w        io.Writer
	header   []byte // ftyp + moov + mdat header, written before the first sample
	sizes    []ClipSample
	next     int
	size     int64
	err      error
	wroteHdr bool
}

// NewClipWriter lays out a file for the tracks and samples and returns a
// writer that writes it to w. Nothing is written until the first
// WriteSample or Close.
func NewClipWriter(w io.Writer, tracks []Track, samples []ClipSample) (*ClipWriter, error) {
	header, size, err := clipHeader(tracks, samples)
	if err != nil {
		return nil, err
	}
	return &ClipWriter{w: w, header: header, sizes: samples, size: size}, nil
}

// Size returns the length of the whole file in bytes.
func (c *ClipWriter) Size() int64 { return c.size }

// WriteSample writes the data of the next sample in the order given to
// NewClipWriter. Its length must equal that sample's Size.
func (c *ClipWriter) WriteSample(data []byte) error {
	if c.err != nil {
		return c.err
	}
	if c.next >= len(c.sizes) {
		return fmt.Errorf("sample %d of %d: %w", c.next, len(c.sizes), ErrSampleSize)
	}
	if want := c.sizes[c.next].Size; uint64(len(data)) != uint64(want) {
		return fmt.Errorf("sample %d has %d bytes, table says %d: %w", c.next, len(data), want, ErrSampleSize)
	}
	if err := c.writeHeader(); err != nil {
		return err
	}
	if _, err := c.w.Write(data); err != nil {
		c.err = err
		return err
	}
	c.next++
	return nil
}

// Close writes the header if no sample was written and checks that every
// sample was. It does not close the underlying writer.
func (c *ClipWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if err := c.writeHeader(); err != nil {
		return err
	}
	if c.next != len(c.sizes) {
		return fmt.Errorf("closed after %d of %d samples: %w", c.next, len(c.sizes), ErrSampleSize)
	}
	return nil
}

func (c *ClipWriter) writeHeader() error {
	if c.wroteHdr {
		return nil
	}
	c.wroteHdr = true
	if _, err := c.w.Write(c.header); err != nil {
		c.err = err
		return err
	}
	c.header = nil
	return nil
}

// clipTrack is the per-track layout of a clip.
type clipTrack struct {
	samples      []int    // indices into the sample list
	durations    []uint32 // per sample
	offsets      []int32  // normalised composition offsets
	chunkOffsets []uint64 // relative to the start of the mdat payload
	chunkCounts  []uint32 // samples per chunk
	mediaTime    int64    // elst media_time of the non-empty edit
	startPTS     float64  // earliest presentation time, seconds
	timing       trakTiming
}

// clipHeader builds ftyp + moov + mdat header and returns it with the file
// size.
func clipHeader(tracks []Track, samples []ClipSample) ([]byte, int64, error) {
	next, err := checkTracks(tracks)
	if err != nil {
		return nil, 0, err
	}
	cts := make([]clipTrack, len(tracks))
	var payload uint64
	prev := -1
	for i := range samples {
		s := &samples[i]
		if s.Track < 0 || s.Track >= len(tracks) {
			return nil, 0, fmt.Errorf("sample %d: track index %d: %w", i, s.Track, ErrInvalidSample)
		}
		ct := &cts[s.Track]
		if n := len(ct.samples); n > 0 && samples[ct.samples[n-1]].DecodeTime > s.DecodeTime {
			return nil, 0, fmt.Errorf("sample %d: decode time %d before the previous sample's: %w", i, s.DecodeTime, ErrInvalidSample)
		}
		ct.samples = append(ct.samples, i)
		if s.Track != prev {
			ct.chunkOffsets = append(ct.chunkOffsets, payload)
			ct.chunkCounts = append(ct.chunkCounts, 0)
			prev = s.Track
		}
		ct.chunkCounts[len(ct.chunkCounts)-1]++
		payload += uint64(s.Size)
	}

	// Durations, composition offsets and edit lists per track.
	movieStart := math.Inf(1)
	for ti := range cts {
		ct := &cts[ti]
		t := &tracks[ti]
		if len(ct.samples) == 0 {
			return nil, 0, fmt.Errorf("track %d has no samples: %w", t.ID, ErrInvalidSample)
		}
		ct.durations = make([]uint32, len(ct.samples))
		ct.offsets = make([]int32, len(ct.samples))
		first := samples[ct.samples[0]].DecodeTime
		var total uint64
		minCT := int64(math.MaxInt64)
		for k, si := range ct.samples {
			s := &samples[si]
			d := s.Duration
			if d == 0 {
				switch {
				case k+1 < len(ct.samples):
					gap := samples[ct.samples[k+1]].DecodeTime - s.DecodeTime
					if gap > math.MaxUint32 {
						return nil, 0, fmt.Errorf("sample %d: gap of %d to the next: %w", si, gap, ErrInvalidSample)
					}
					d = uint32(gap)
				case k > 0:
					d = ct.durations[k-1]
				}
			}
			ct.durations[k] = d
			ctime := int64(s.DecodeTime-first) + int64(s.PresentationOffset)
			minCT = min(minCT, ctime)
			total += uint64(d)
		}
		// The earliest composition time becomes the start of the
		// track's presentation. If it is negative, shift every offset
		// so that it is 0 (composition times must not precede the
		// media's start).
		shift := int64(0)
		if minCT < 0 {
			shift = -minCT
			ct.mediaTime = 0
		} else {
			ct.mediaTime = minCT
		}
		for k, si := range ct.samples {
			o := int64(samples[si].PresentationOffset) + shift
			if o > math.MaxInt32 {
				return nil, 0, fmt.Errorf("sample %d: composition offset %d: %w", si, o, ErrInvalidSample)
			}
			ct.offsets[k] = int32(o)
		}
		presented := int64(total)
		if t.Codec == Opus && t.preSkip > 0 {
			// Opus in ISOBMFF §4.4: the edit list trims the
			// decoder's pre-skip from the start.
			skip := int64(t.preSkip)
			if skip > presented {
				skip = presented
			}
			ct.mediaTime += skip
			presented -= skip
		}
		ct.startPTS = (float64(first) + float64(ct.mediaTime)) / float64(t.Timescale)
		if t.Codec == Opus {
			ct.startPTS = (float64(first) + float64(minCT+shift)) / float64(t.Timescale)
		}
		movieStart = min(movieStart, ct.startPTS)
		ct.timing.mediaDuration = total
		ct.timing.edits = []edit{{
			// Rounded up so that the edit never cuts the last sample.
			segmentDuration: uint64(math.Ceil(float64(presented) * movieTimescale / float64(t.Timescale))),
			mediaTime:       ct.mediaTime,
		}}
	}
	var movieDuration uint64
	for ti := range cts {
		ct := &cts[ti]
		if gap := uint64(math.Round((ct.startPTS - movieStart) * movieTimescale)); gap > 0 {
			ct.timing.edits = append([]edit{{segmentDuration: gap, mediaTime: -1}}, ct.timing.edits...)
		}
		for _, e := range ct.timing.edits {
			ct.timing.movieDuration += e.segmentDuration
		}
		movieDuration = max(movieDuration, ct.timing.movieDuration)
	}

	build := func(base uint64) []byte {
		w := &boxBuf{b: make([]byte, 0, 1024+len(samples)*24)}
		brands := []string{"isom", "iso2", "mp41"}
		for i := range tracks {
			if tracks[i].Codec == H264 {
				brands = append(brands, "avc1")
				break
			}
		}
		writeFtyp(w, "isom", 512, brands...)
		moov := w.start("moov")
		writeMvhd(w, movieDuration, next)
		for ti := range tracks {
			ct := &cts[ti]
			writeTrak(w, &tracks[ti], ct.timing, func(w *boxBuf) {
				writeClipTables(w, &tracks[ti], ct, samples, base)
			})
		}
		w.end(moov)
		return w.b
	}
	hdr := build(0)
	mdatHeader := uint64(8)
	if payload+8 > math.MaxUint32 {
		mdatHeader = 16
	}
	base := uint64(len(hdr)) + mdatHeader
	hdr = build(base)
	if uint64(len(hdr))+mdatHeader != base {
		return nil, 0, fmt.Errorf("moov size changed between passes")
	}
	if mdatHeader == 16 {
		hdr = append(hdr, 0, 0, 0, 1, 'm', 'd', 'a', 't')
		hdr = appendU64(hdr, payload+16)
	} else {
		hdr = append(hdr, byte((payload+8)>>24), byte((payload+8)>>16), byte((payload+8)>>8), byte(payload+8), 'm', 'd', 'a', 't')
	}
	return hdr, int64(base + payload), nil
}

func appendU64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// writeClipTables writes stts, ctts, stss, stsz, stsc and co64 for one
// track of a clip; chunk offsets are relative to base.
func writeClipTables(w *boxBuf, t *Track, ct *clipTrack, samples []ClipSample, base uint64) {
	// TimeToSampleBox (§8.6.1.2), run-length coded.
	p := w.startFull("stts", 0, 0)
	countAt := len(w.b)
	w.u32(0)
	var entries uint32
	for k := 0; k < len(ct.durations); {
		n := 1
		for k+n < len(ct.durations) && ct.durations[k+n] == ct.durations[k] {
			n++
		}
		w.u32(uint32(n))
		w.u32(ct.durations[k])
		entries++
		k += n
	}
	putU32(w.b[countAt:], entries)
	w.end(p)

	// CompositionOffsetBox (§8.6.1.3), when any offset is non-zero;
	// version 1 (signed) when any is negative.
	anyCT, negative := false, false
	for _, o := range ct.offsets {
		anyCT = anyCT || o != 0
		negative = negative || o < 0
	}
	if anyCT {
		v := uint8(0)
		if negative {
			v = 1
		}
		p = w.startFull("ctts", v, 0)
		countAt = len(w.b)
		w.u32(0)
		entries = 0
		for k := 0; k < len(ct.offsets); {
			n := 1
			for k+n < len(ct.offsets) && ct.offsets[k+n] == ct.offsets[k] {
				n++
			}
			w.u32(uint32(n))
			w.u32(uint32(ct.offsets[k]))
			entries++
			k += n
		}
		putU32(w.b[countAt:], entries)
		w.end(p)
	}

	// SyncSampleBox (§8.6.2): absent means every sample is a sync sample.
	if t.Codec.IsVideo() {
		all := true
		for _, si := range ct.samples {
			all = all && samples[si].Keyframe
		}
		if !all {
			p = w.startFull("stss", 0, 0)
			countAt = len(w.b)
			w.u32(0)
			entries = 0
			for k, si := range ct.samples {
				if samples[si].Keyframe {
					w.u32(uint32(k + 1))
					entries++
				}
			}
			putU32(w.b[countAt:], entries)
			w.end(p)
		}
	}

	// SampleSizeBox (§8.7.3.2): one size for all when they are equal
	// (and not 0, which means a table follows).
	same := true
	first := samples[ct.samples[0]].Size
	for _, si := range ct.samples {
		same = same && samples[si].Size == first
	}
	p = w.startFull("stsz", 0, 0)
	if same && first != 0 {
		w.u32(first)
		w.u32(uint32(len(ct.samples)))
	} else {
		w.u32(0)
		w.u32(uint32(len(ct.samples)))
		for _, si := range ct.samples {
			w.u32(samples[si].Size)
		}
	}
	w.end(p)

	// SampleToChunkBox (§8.7.4): a new entry where samples_per_chunk
	// changes.
	p = w.startFull("stsc", 0, 0)
	countAt = len(w.b)
	w.u32(0)
	entries = 0
	for k, n := range ct.chunkCounts {
		if k == 0 || n != ct.chunkCounts[k-1] {
			w.u32(uint32(k + 1)) // first_chunk
			w.u32(n)             // samples_per_chunk
			w.u32(1)             // sample_description_index
			entries++
		}
	}
	putU32(w.b[countAt:], entries)
	w.end(p)

	// ChunkLargeOffsetBox (§8.7.5): 64-bit offsets, so the moov size
	// does not depend on where the data lands.
	p = w.startFull("co64", 0, 0)
	w.u32(uint32(len(ct.chunkOffsets)))
	for _, o := range ct.chunkOffsets {
		w.u64(base + o)
	}
	w.end(p)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
