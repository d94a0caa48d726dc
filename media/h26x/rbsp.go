package h26x

// Emulation prevention (H.264 §7.4.1, H.265 §7.4.2): inside a NAL unit the
// encoder inserts emulation_prevention_three_byte 0x03 after every two zero
// bytes that would otherwise be followed by a byte <= 0x03, so that no start
// code can appear inside NAL data. The raw byte sequence payload (RBSP) is
// what remains after removing them.

// RemoveEmulationPrevention returns the RBSP of a NAL unit: b with every
// 0x03 that follows two zero bytes removed. It returns b itself when there is
// nothing to remove, and a new slice otherwise.
func RemoveEmulationPrevention(b []byte) []byte {
	first := -1
	for i := 2; i < len(b); i++ {
		if b[i] == 3 && b[i-1] == 0 && b[i-2] == 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return b
	}
	out := make([]byte, 0, len(b)-1)
	out = append(out, b[:first]...)
	zeros := 0
	for i := first + 1; i < len(b); i++ {
		c := b[i]
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// AddEmulationPrevention appends rbsp to dst with an emulation prevention
// byte 0x03 inserted wherever two zero bytes are followed by a byte <= 0x03,
// and returns the extended slice. It is the inverse of
// RemoveEmulationPrevention.
func AddEmulationPrevention(dst, rbsp []byte) []byte {
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
