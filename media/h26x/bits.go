package h26x

import "fmt"

// bitReader reads the RBSP bit syntax of H.264/H.265 §7.2: u(n), ue(v) and
// se(v) (Exp-Golomb, H.264 §9.1). Reading past the end sets err, after which
// every read returns 0; callers check err once at the end of a section.
type bitReader struct {
	b   []byte
	pos int // bit position
	err error
}

func (r *bitReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("bit %d of %d: %w", r.pos, len(r.b)*8, ErrTruncated)
	}
}

func (r *bitReader) bit() uint32 {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b)*8 {
		r.fail()
		return 0
	}
	v := uint32(r.b[r.pos>>3]>>(7-uint(r.pos&7))) & 1
	r.pos++
	return v
}

func (r *bitReader) flag() bool { return r.bit() == 1 }

// u reads an n-bit unsigned integer, n <= 32.
func (r *bitReader) u(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// skip advances n bits.
func (r *bitReader) skip(n int) {
	if r.err != nil {
		return
	}
	if r.pos+n > len(r.b)*8 {
		r.pos = len(r.b) * 8
		r.fail()
		return
	}
	r.pos += n
}

// ue reads an unsigned Exp-Golomb code (H.264 §9.1). Codes longer than 32
// bits are reported as invalid.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			if r.err == nil {
				r.err = fmt.Errorf("Exp-Golomb code at bit %d too long: %w", r.pos, ErrInvalid)
			}
			return 0
		}
	}
	if zeros == 0 {
		return 0
	}
	return (1<<uint(zeros) - 1) + r.u(zeros)
}

// se reads a signed Exp-Golomb code (H.264 §9.1.1).
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}
