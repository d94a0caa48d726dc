package fmp4

import "encoding/binary"

// boxBuf appends boxes (ISO/IEC 14496-12 §4.2) to a byte slice. start
// reserves the 32-bit size field and end patches it once the body is known.
type boxBuf struct {
	b []byte
}

// start appends a box header of type typ with a size placeholder and
// returns the box's offset for end.
func (w *boxBuf) start(typ string) int {
	pos := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0, typ[0], typ[1], typ[2], typ[3])
	return pos
}

// startFull appends a FullBox header (§4.2.2): box header, version, flags.
func (w *boxBuf) startFull(typ string, version uint8, flags uint32) int {
	pos := w.start(typ)
	w.b = append(w.b, version, byte(flags>>16), byte(flags>>8), byte(flags))
	return pos
}

// end writes the size of the box that starts at pos.
func (w *boxBuf) end(pos int) {
	binary.BigEndian.PutUint32(w.b[pos:], uint32(len(w.b)-pos))
}

func (w *boxBuf) u8(v uint8)   { w.b = append(w.b, v) }
func (w *boxBuf) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxBuf) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxBuf) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxBuf) bytes(p []byte) {
	w.b = append(w.b, p...)
}
func (w *boxBuf) str(s string) { w.b = append(w.b, s...) }
func (w *boxBuf) zeros(n int) {
	for range n {
		w.b = append(w.b, 0)
	}
}

// unityMatrix is the identity transformation matrix of mvhd and tkhd
// (§8.2.2.3): { 0x00010000,0,0, 0,0x00010000,0, 0,0,0x40000000 }.
func (w *boxBuf) unityMatrix() {
	for _, v := range [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		w.u32(v)
	}
}
