package fmp4

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Sample is one sample (an access unit or audio frame) of a fragment.
type Sample struct {
	// DecodeTime is the decoding timestamp in the track's timescale. The
	// first sample's DecodeTime becomes the fragment's
	// baseMediaDecodeTime (tfdt).
	DecodeTime uint64
	// PresentationOffset is the presentation time minus the decode time,
	// in the track's timescale; non-zero for reordered (B-frame) video.
	PresentationOffset int32
	// Duration is the sample duration in the track's timescale. Zero
	// means the distance to the next sample's DecodeTime, and for the last
	// sample the duration of the one before it.
	Duration uint32
	// Keyframe marks a sync sample (a key frame). Set it on every audio
	// sample.
	Keyframe bool
	// Data is the sample payload. For H.264 and H.265 it is the access
	// unit with 4-byte NAL unit lengths, as Matroska stores it.
	Data []byte
}

// TrackFragment holds the samples of one track in a fragment, in decode
// order.
type TrackFragment struct {
	TrackID uint32
	Samples []Sample
}

// FragmentWriter writes media segments (moof + mdat). It keeps its header
// buffer between calls, so writing fragments does not allocate once the
// buffer has grown. The zero value is ready to use; a FragmentWriter must
// not be used by several goroutines at once.
type FragmentWriter struct {
	buf boxBuf
}

// WriteFragment writes one movie fragment with sequence number seq (mfhd,
// ISO/IEC 14496-12 §8.8.5; start at 1 and increase by one per fragment)
// holding the given tracks' samples, then the mdat with their data, track
// after track. It returns the number of bytes written.
//
// Each traf (§8.8.6) has a tfhd with default-base-is-moof and no defaults
// (§8.8.7), a tfdt with the first sample's decode time (§8.8.12) and a trun
// (§8.8.8) giving every sample's duration, size, flags and, when any is
// non-zero, composition time offset (version 1, signed, when any is
// negative).
func (f *FragmentWriter) WriteFragment(w io.Writer, seq uint32, tracks ...TrackFragment) (int64, error) {
	hdr, err := f.appendMoof(f.buf.b[:0], seq, tracks)
	f.buf.b = hdr[:0]
	if err != nil {
		return 0, err
	}
	n, err := w.Write(hdr)
	total := int64(n)
	if err != nil {
		return total, err
	}
	for i := range tracks {
		for j := range tracks[i].Samples {
			n, err = w.Write(tracks[i].Samples[j].Data)
			total += int64(n)
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// AppendFragment appends the fragment described at WriteFragment to dst,
// copying the sample data, and returns the extended slice.
func (f *FragmentWriter) AppendFragment(dst []byte, seq uint32, tracks ...TrackFragment) ([]byte, error) {
	dst, err := f.appendMoof(dst, seq, tracks)
	if err != nil {
		return dst, err
	}
	for i := range tracks {
		for j := range tracks[i].Samples {
			dst = append(dst, tracks[i].Samples[j].Data...)
		}
	}
	return dst, nil
}

// WriteFragment writes one fragment with a new FragmentWriter; see
// FragmentWriter.WriteFragment. Reuse a FragmentWriter to avoid allocating
// its header buffer for every fragment.
func WriteFragment(w io.Writer, seq uint32, tracks ...TrackFragment) (int64, error) {
	var f FragmentWriter
	return f.WriteFragment(w, seq, tracks...)
}

// sampleDuration returns the duration of samples[i] (see Sample.Duration).
func sampleDuration(samples []Sample, i int) (uint32, error) {
	s := &samples[i]
	if s.Duration != 0 {
		return s.Duration, nil
	}
	if i+1 < len(samples) {
		next := samples[i+1].DecodeTime
		if next < s.DecodeTime || next-s.DecodeTime > math.MaxUint32 {
			return 0, fmt.Errorf("sample %d: decode time %d then %d: %w", i, s.DecodeTime, next, ErrInvalidSample)
		}
		return uint32(next - s.DecodeTime), nil
	}
	if i > 0 {
		return sampleDuration(samples, i-1)
	}
	return 0, nil
}

// appendMoof appends the moof box and the mdat header to dst.
func (f *FragmentWriter) appendMoof(dst []byte, seq uint32, tracks []TrackFragment) ([]byte, error) {
	w := boxBuf{b: dst}
	start := len(dst)
	moof := w.start("moof")
	p := w.startFull("mfhd", 0, 0)
	w.u32(seq)
	w.end(p)

	// data_offset fields to patch once the moof size is known, with the
	// offset of their data inside the mdat payload.
	type patch struct {
		at     int
		offset uint64
	}
	var patches [8]patch
	pending := patches[:0]
	var payload uint64
	for ti := range tracks {
		tf := &tracks[ti]
		if len(tf.Samples) == 0 {
			continue
		}
		if tf.TrackID == 0 {
			return dst, fmt.Errorf("track fragment with track ID 0: %w", ErrInvalidSample)
		}
		traf := w.start("traf")
		p = w.startFull("tfhd", 0, 0x020000) // default-base-is-moof
		w.u32(tf.TrackID)
		w.end(p)
		base := tf.Samples[0].DecodeTime
		if base > math.MaxUint32 {
			p = w.startFull("tfdt", 1, 0)
			w.u64(base)
		} else {
			p = w.startFull("tfdt", 0, 0)
			w.u32(uint32(base))
		}
		w.end(p)

		const (
			dataOffsetPresent = 0x000001
			durationPresent   = 0x000100
			sizePresent       = 0x000200
			flagsPresent      = 0x000400
			ctoPresent        = 0x000800
		)
		flags := uint32(dataOffsetPresent | durationPresent | sizePresent | flagsPresent)
		version := uint8(0)
		for i := range tf.Samples {
			if o := tf.Samples[i].PresentationOffset; o != 0 {
				flags |= ctoPresent
				if o < 0 {
					version = 1
				}
			}
		}
		p = w.startFull("trun", version, flags)
		w.u32(uint32(len(tf.Samples)))
		pending = append(pending, patch{at: len(w.b), offset: payload})
		w.u32(0) // data_offset, patched below
		for i := range tf.Samples {
			s := &tf.Samples[i]
			d, err := sampleDuration(tf.Samples, i)
			if err != nil {
				return dst, fmt.Errorf("track %d: %w", tf.TrackID, err)
			}
			if uint64(len(s.Data)) > math.MaxUint32 {
				return dst, fmt.Errorf("track %d sample %d of %d bytes: %w", tf.TrackID, i, len(s.Data), ErrInvalidSample)
			}
			w.u32(d)
			w.u32(uint32(len(s.Data)))
			if s.Keyframe {
				w.u32(syncSampleFlags)
			} else {
				w.u32(nonSyncSampleFlags)
			}
			if flags&ctoPresent != 0 {
				w.u32(uint32(s.PresentationOffset))
			}
			payload += uint64(len(s.Data))
		}
		w.end(p)
		w.end(traf)
	}
	if len(pending) == 0 {
		return dst, fmt.Errorf("fragment without samples: %w", ErrInvalidSample)
	}
	w.end(moof)

	mdatHeader := uint64(8)
	if payload+8 > math.MaxUint32 {
		mdatHeader = 16
	}
	moofSize := uint64(len(w.b) - start)
	for _, pt := range pending {
		off := moofSize + mdatHeader + pt.offset
		if off > math.MaxInt32 {
			return dst, fmt.Errorf("fragment data offset %d does not fit trun: %w", off, ErrInvalidSample)
		}
		binary.BigEndian.PutUint32(w.b[pt.at:], uint32(off))
	}
	if mdatHeader == 16 {
		w.u32(1)
		w.str("mdat")
		w.u64(payload + 16)
	} else {
		w.u32(uint32(payload + 8))
		w.str("mdat")
	}
	return w.b, nil
}
