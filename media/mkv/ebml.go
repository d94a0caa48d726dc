package mkv

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ID is an EBML Element ID with its length-marker bits kept, as the
// specifications write them (0x1A45DFA3 is the EBML header), RFC 8794 §5.
type ID uint32

// UnknownSize is the data size reported for an element whose size VINT has
// all its VINT_DATA bits set, RFC 8794 §6.2. Matroska allows it only for
// Segment and Cluster (RFC 9559 §5.1, "unknownsizeallowed").
const UnknownSize int64 = -1

// maxVintLen is EBMLMaxSizeLength's default and the largest length this
// package accepts, RFC 8794 §11.2.5.
const maxVintLen = 8

// maxIDLen is EBMLMaxIDLength's default, RFC 8794 §11.2.4.
const maxIDLen = 4

// parseID decodes the Element ID at the start of b, RFC 8794 §5. It returns
// the ID and its length; n == 0 means b is too short, and an error means the
// bytes cannot start an Element ID.
func parseID(b []byte) (id ID, n int, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	n = idLen(b[0])
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: element ID longer than %d bytes (first byte 0x%02x)", ErrInvalid, maxIDLen, b[0])
	}
	if len(b) < n {
		return 0, 0, nil
	}
	var v uint32
	for i := range n {
		v = v<<8 | uint32(b[i])
	}
	// RFC 8794 §5: VINT_DATA all zeros or all ones is not a valid Element
	// ID. The VINT_MARKER of an n-byte ID is bit 7n, so VINT_DATA is below it.
	data := v & (uint32(1)<<(7*n) - 1)
	if data == 0 || data == uint32(1)<<(7*n)-1 {
		return 0, 0, fmt.Errorf("%w: reserved element ID 0x%X", ErrInvalid, v)
	}
	return ID(v), n, nil
}

// idLen returns the length of an Element ID from its first byte, or 0 when it
// exceeds maxIDLen.
func idLen(b0 byte) int {
	switch {
	case b0&0x80 != 0:
		return 1
	case b0&0x40 != 0:
		return 2
	case b0&0x20 != 0:
		return 3
	case b0&0x10 != 0:
		return 4
	}
	return 0
}

// vintLen returns the length of a VINT from its first byte (RFC 8794 §4.1),
// or 0 when it exceeds maxVintLen.
func vintLen(b0 byte) int {
	if b0 == 0 {
		return 0
	}
	n := 1
	for b0&0x80 == 0 {
		b0 <<= 1
		n++
	}
	return n
}

// parseSize decodes the Element Data Size VINT at the start of b,
// RFC 8794 §4 and §6. It returns UnknownSize for the reserved all-ones value
// (§6.2); n == 0 means b is too short.
func parseSize(b []byte) (size int64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	n = vintLen(b[0])
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: size VINT longer than %d bytes", ErrInvalid, maxVintLen)
	}
	if len(b) < n {
		return 0, 0, nil
	}
	v := uint64(b[0]) & (0xFF >> n)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	if v == uint64(1)<<(7*n)-1 {
		return UnknownSize, n, nil
	}
	return int64(v), n, nil
}

// ParseElementHeader decodes the Element ID and Element Data Size at the
// start of b (RFC 8794 §5, §6). n is the number of header bytes; size is
// UnknownSize for an unknown-size element. A b too short to hold a whole
// header gives an error wrapping ErrTruncated.
func ParseElementHeader(b []byte) (id ID, size int64, n int, err error) {
	id, in, err := parseID(b)
	if err != nil {
		return 0, 0, 0, err
	}
	if in == 0 {
		return 0, 0, 0, fmt.Errorf("%w: element header", ErrTruncated)
	}
	size, sn, err := parseSize(b[in:])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("element 0x%X: %w", id, err)
	}
	if sn == 0 {
		return 0, 0, 0, fmt.Errorf("%w: element 0x%X size", ErrTruncated, id)
	}
	return id, size, in + sn, nil
}

// idSize returns how many bytes id occupies when encoded.
func idSize(id ID) int {
	switch {
	case id < 1<<8:
		return 1
	case id < 1<<16:
		return 2
	case id < 1<<24:
		return 3
	}
	return 4
}

// AppendID appends the encoded Element ID to dst.
func AppendID(dst []byte, id ID) []byte {
	switch idSize(id) {
	case 1:
		return append(dst, byte(id))
	case 2:
		return append(dst, byte(id>>8), byte(id))
	case 3:
		return append(dst, byte(id>>16), byte(id>>8), byte(id))
	}
	return append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// vintSize returns the shortest VINT length that holds v as a data size
// (the all-ones value of each length is reserved, RFC 8794 §6.2).
func vintSize(v uint64) int {
	for n := 1; n < maxVintLen; n++ {
		if v < uint64(1)<<(7*n)-1 {
			return n
		}
	}
	return maxVintLen
}

// AppendSize appends size as an Element Data Size VINT using the shortest
// encoding (RFC 8794 §6.1); UnknownSize appends the 8-byte unknown-size
// marker 0x01FFFFFFFFFFFFFF (§6.2).
func AppendSize(dst []byte, size int64) []byte {
	if size < 0 {
		return append(dst, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	}
	return appendVintN(dst, uint64(size), vintSize(uint64(size)))
}

// appendVintN appends v as an n-byte VINT (RFC 8794 §4).
func appendVintN(dst []byte, v uint64, n int) []byte {
	v |= uint64(1) << (7 * n)
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// AppendElementHeader appends an Element ID and Element Data Size.
func AppendElementHeader(dst []byte, id ID, size int64) []byte {
	return AppendSize(AppendID(dst, id), size)
}

// elementHeaderSize returns the encoded length of an element header.
func elementHeaderSize(id ID, size int) int {
	return idSize(id) + vintSize(uint64(size))
}

// appendUint appends an Unsigned Integer element, RFC 8794 §7.2, using the
// fewest octets (zero is encoded with one octet so old readers accept it).
func appendUint(dst []byte, id ID, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	dst = AppendElementHeader(dst, id, int64(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// appendFloat appends an 8-octet Float element, RFC 8794 §7.3.
func appendFloat(dst []byte, id ID, v float64) []byte {
	dst = AppendElementHeader(dst, id, 8)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// appendString appends a String or UTF-8 element, RFC 8794 §7.4–7.5.
func appendString(dst []byte, id ID, s string) []byte {
	dst = AppendElementHeader(dst, id, int64(len(s)))
	return append(dst, s...)
}

// appendBinary appends a Binary element, RFC 8794 §7.8.
func appendBinary(dst []byte, id ID, b []byte) []byte {
	dst = AppendElementHeader(dst, id, int64(len(b)))
	return append(dst, b...)
}

// decodeUint decodes an Unsigned Integer element body (0–8 octets,
// RFC 8794 §7.2; an empty body is 0).
func decodeUint(id ID, b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: unsigned integer element 0x%X has %d bytes", ErrInvalid, id, len(b))
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// decodeFloat decodes a Float element body (0, 4 or 8 octets, RFC 8794 §7.3).
func decodeFloat(id ID, b []byte) (float64, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("%w: float element 0x%X has %d bytes", ErrInvalid, id, len(b))
}

// decodeString decodes a String or UTF-8 element body; trailing zero octets
// are padding and are removed, RFC 8794 §7.4.
func decodeString(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// element is one child of a buffered Master element.
type element struct {
	id   ID
	data []byte
	// off is the offset of data within the buffer walked by nextElement.
	off int
}

// nextElement splits the first child element off b, a buffered Master
// element body. Children of buffered elements must have known sizes that fit
// in b (RFC 8794 §6.2 permits unknown sizes only where the schema does).
func nextElement(b []byte, base int) (element, []byte, error) {
	id, size, n, err := ParseElementHeader(b)
	if err != nil {
		return element{}, nil, err
	}
	if size == UnknownSize {
		return element{}, nil, fmt.Errorf("%w: element 0x%X has unknown size inside a sized parent", ErrInvalid, id)
	}
	if size > int64(len(b)-n) {
		return element{}, nil, fmt.Errorf("%w: element 0x%X size %d exceeds its parent (%d bytes left)", ErrInvalid, id, size, len(b)-n)
	}
	end := n + int(size)
	return element{id: id, data: b[n:end], off: base + n}, b[end:], nil
}
