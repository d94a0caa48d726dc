package h26x

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// Annex-B byte streams (ITU-T H.264 Annex B, H.265 Annex B) separate NAL
// units with the start code 0x000001, optionally preceded by more zero bytes
// (zero_byte, leading_zero_8bits, trailing_zero_8bits). The length-prefixed
// form of ISO/IEC 14496-15 (§5.3.2 for AVC, §8.3.2 for HEVC; "AVCC"/"HVCC")
// puts a big-endian length before each NAL unit instead; this package writes
// 4-byte lengths, which is what every AVC and HEVC sample entry written by
// openkvs declares (lengthSizeMinusOne = 3).

// findStartCode returns the index of the first 0x000001 at or after i, or -1.
func findStartCode(b []byte, i int) int {
	for ; i+2 < len(b); i++ {
		if b[i+2] > 1 {
			// Neither b[i], b[i+1] nor b[i+2] can be the 0x01 of a start
			// code that begins at i or i+1 or i+2 unless b[i+2] <= 1.
			i += 2
			continue
		}
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			return i
		}
	}
	return -1
}

// AnnexBUnits iterates over the NAL units of an Annex-B byte stream. Each
// yielded slice aliases b and has no start code and no trailing zero bytes.
// Bytes before the first start code are ignored; a stream with no start code
// at all yields nothing.
func AnnexBUnits(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := findStartCode(b, 0)
		if i < 0 {
			return
		}
		start := i + 3
		for {
			next := findStartCode(b, start)
			end := next
			if next < 0 {
				end = len(b)
			}
			// Trailing zero bytes belong to the next start code
			// (zero_byte) or are trailing_zero_8bits; neither is NAL data.
			// A NAL unit never ends with 0x00 (rbsp_trailing_bits).
			for end > start && b[end-1] == 0 {
				end--
			}
			if end > start && !yield(b[start:end]) {
				return
			}
			if next < 0 {
				return
			}
			start = next + 3
		}
	}
}

// SplitAnnexB returns the NAL units of an Annex-B byte stream; see AnnexBUnits.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for n := range AnnexBUnits(b) {
		out = append(out, n)
	}
	return out
}

// AVCCUnits iterates over NAL units that are each preceded by a 4-byte
// big-endian length. Iteration stops at the first length that runs past the
// end of b; use SplitAVCC to get that reported as an error.
func AVCCUnits(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(b) >= 4 {
			n := binary.BigEndian.Uint32(b)
			if uint64(n) > uint64(len(b)-4) {
				return
			}
			if !yield(b[4 : 4+n]) {
				return
			}
			b = b[4+n:]
		}
	}
}

// SplitAVCC returns the NAL units of a sample in 4-byte length-prefixed form.
// The slices alias b.
func SplitAVCC(b []byte) ([][]byte, error) {
	return SplitLengthPrefixed(b, 4)
}

// SplitLengthPrefixed returns the NAL units of a sample whose lengths are
// lengthSize (1, 2 or 4) bytes long, as declared by lengthSizeMinusOne+1 in
// the decoder configuration record. The slices alias b.
func SplitLengthPrefixed(b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize != 1 && lengthSize != 2 && lengthSize != 4 {
		return nil, fmt.Errorf("NAL length size %d: %w", lengthSize, ErrInvalid)
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return out, fmt.Errorf("NAL length field: %w", ErrTruncated)
		}
		var n uint64
		for _, c := range b[:lengthSize] {
			n = n<<8 | uint64(c)
		}
		b = b[lengthSize:]
		if n > uint64(len(b)) {
			return out, fmt.Errorf("NAL unit of %d bytes with %d left: %w", n, len(b), ErrTruncated)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}

// AppendAVCC appends each NAL unit to dst preceded by its 4-byte big-endian
// length and returns the extended slice.
func AppendAVCC(dst []byte, nalus ...[]byte) []byte {
	for _, n := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// AnnexBToAVCC appends the NAL units of the Annex-B stream src to dst in
// 4-byte length-prefixed form and returns the extended slice.
func AnnexBToAVCC(dst, src []byte) []byte {
	for n := range AnnexBUnits(src) {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// AVCCToAnnexB appends the NAL units of the 4-byte length-prefixed sample src
// to dst, each preceded by a 4-byte start code 0x00000001, and returns the
// extended slice.
func AVCCToAnnexB(dst, src []byte) ([]byte, error) {
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, fmt.Errorf("NAL length field: %w", ErrTruncated)
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("NAL unit of %d bytes with %d left: %w", n, len(src), ErrTruncated)
		}
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, src[:n]...)
		src = src[n:]
	}
	return dst, nil
}
