package mkv

import (
	"fmt"
)

// Block header flag bits, RFC 9559 §10.1 (Block) and §10.2 (SimpleBlock).
// Bit 0 in the RFC is the most significant bit.
const (
	flagKeyframe    = 0x80 // SimpleBlock only
	flagInvisible   = 0x08
	flagLacingMask  = 0x06
	flagDiscardable = 0x01 // SimpleBlock only

	lacingNone  = 0x00
	lacingXiph  = 0x02
	lacingFixed = 0x04
	lacingEBML  = 0x06
)

// appendBlockFrames parses a Block or SimpleBlock body (RFC 9559 §10.1,
// §10.2) located at offset base of the cluster buffer and appends its frames
// to dst. simple selects SimpleBlock flag semantics; for a Block, keyframe is
// decided by the caller from ReferenceBlock.
func appendBlockFrames(dst []Frame, b []byte, base int, simple bool, keyframe bool, duration uint64) ([]Frame, error) {
	// Track number is a VINT (the length marker removed), RFC 9559 §10.1.
	if len(b) == 0 {
		return dst, fmt.Errorf("%w: empty block", ErrInvalid)
	}
	n := vintLen(b[0])
	if n == 0 || len(b) < n+3 {
		return dst, fmt.Errorf("%w: block header of %d bytes", ErrInvalid, len(b))
	}
	track := uint64(b[0]) & (0xFF >> n)
	for i := 1; i < n; i++ {
		track = track<<8 | uint64(b[i])
	}
	tc := int16(uint16(b[n])<<8 | uint16(b[n+1]))
	flags := b[n+2]
	pos := n + 3
	f := Frame{
		Track:     track,
		Timecode:  tc,
		Keyframe:  keyframe,
		Invisible: flags&flagInvisible != 0,
		Duration:  duration,
	}
	if simple {
		f.Keyframe = flags&flagKeyframe != 0
		f.Discardable = flags&flagDiscardable != 0
	}
	lacing := flags & flagLacingMask
	if lacing == lacingNone {
		f.Offset = base + pos
		f.Data = b[pos:len(b):len(b)]
		return append(dst, f), nil
	}
	// Laced block, RFC 9559 §10.3: one octet of frame count minus one,
	// then the sizes of all frames but the last.
	if pos >= len(b) {
		return dst, fmt.Errorf("%w: laced block without lace count", ErrLacing)
	}
	count := int(b[pos]) + 1
	pos++
	start := len(dst)
	switch lacing {
	case lacingXiph:
		// Xiph lacing, RFC 9559 §10.3: each size is a run of 255s ended
		// by an octet below 255.
		for i := 0; i < count-1; i++ {
			size := 0
			for {
				if pos >= len(b) {
					return dst[:start], fmt.Errorf("%w: Xiph lace sizes run past the block", ErrLacing)
				}
				c := b[pos]
				pos++
				size += int(c)
				if c != 255 {
					break
				}
			}
			dst = append(dst, Frame{Offset: size})
		}
	case lacingEBML:
		// EBML lacing, RFC 9559 §10.3: the first size is a VINT, each
		// later one a signed VINT difference from the previous.
		prev := 0
		for i := 0; i < count-1; i++ {
			if pos >= len(b) {
				return dst[:start], fmt.Errorf("%w: EBML lace sizes run past the block", ErrLacing)
			}
			ln := vintLen(b[pos])
			if ln == 0 || pos+ln > len(b) {
				return dst[:start], fmt.Errorf("%w: bad EBML lace size", ErrLacing)
			}
			v := uint64(b[pos]) & (0xFF >> ln)
			for j := 1; j < ln; j++ {
				v = v<<8 | uint64(b[pos+j])
			}
			pos += ln
			var size int
			if i == 0 {
				if v > uint64(len(b)) {
					return dst[:start], fmt.Errorf("%w: EBML lace size %d exceeds the block", ErrLacing, v)
				}
				size = int(v)
			} else {
				// Signed VINT: subtract the bias 2^(7n-1)-1.
				diff := int64(v) - (int64(1)<<(7*ln-1) - 1)
				s := int64(prev) + diff
				if s < 0 || s > int64(len(b)) {
					return dst[:start], fmt.Errorf("%w: EBML lace size %d out of range", ErrLacing, s)
				}
				size = int(s)
			}
			prev = size
			dst = append(dst, Frame{Offset: size})
		}
	case lacingFixed:
		// Fixed-size lacing, RFC 9559 §10.3: the data divides evenly.
		rem := len(b) - pos
		if rem%count != 0 {
			return dst, fmt.Errorf("%w: %d bytes do not split into %d equal frames", ErrLacing, rem, count)
		}
		for i := 0; i < count-1; i++ {
			dst = append(dst, Frame{Offset: rem / count})
		}
	}
	// dst[start:] holds the sizes (in Offset) of all frames but the last.
	for i := start; i < len(dst); i++ {
		size := dst[i].Offset
		if size > len(b)-pos {
			return dst[:start], fmt.Errorf("%w: laced frame %d of %d bytes overruns the block", ErrLacing, i-start, size)
		}
		g := f
		g.Offset = base + pos
		g.Data = b[pos : pos+size : pos+size]
		dst[i] = g
		pos += size
	}
	last := f
	last.Offset = base + pos
	last.Data = b[pos:len(b):len(b)]
	return append(dst, last), nil
}
