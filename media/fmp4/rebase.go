package fmp4

import (
	"encoding/binary"
	"fmt"
)

// AppendRebased appends a copy of the media segment seg (moof boxes, each
// followed by its mdat, as FragmentWriter writes them) to dst with the
// baseMediaDecodeTime of every track fragment (tfdt, ISO/IEC 14496-12
// §8.8.12) lowered by shift(trackID), or set to 0 where it is smaller than
// that, and returns the extended slice. Box sizes and offsets do not change,
// so one remuxed segment can be served on several timelines.
//
// A seg that is not a sequence of well-formed boxes, or whose traf lacks a
// tfhd before its tfdt, is refused with ErrInvalidSegment.
func AppendRebased(dst, seg []byte, shift func(trackID uint32) uint64) ([]byte, error) {
	start := len(dst)
	dst = append(dst, seg...)
	out := dst[start:]
	err := walkBoxes(out, func(typ string, body []byte) error {
		if typ != "moof" {
			return nil
		}
		return walkBoxes(body, func(typ string, body []byte) error {
			if typ != "traf" {
				return nil
			}
			return rebaseTraf(body, shift)
		})
	})
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// rebaseTraf lowers the tfdt of one traf body in place.
func rebaseTraf(traf []byte, shift func(uint32) uint64) error {
	var id uint32
	haveID := false
	return walkBoxes(traf, func(typ string, body []byte) error {
		switch typ {
		case "tfhd":
			if len(body) < 8 {
				return fmt.Errorf("tfhd of %d bytes: %w", len(body), ErrInvalidSegment)
			}
			id, haveID = binary.BigEndian.Uint32(body[4:]), true
		case "tfdt":
			if !haveID {
				return fmt.Errorf("tfdt before tfhd: %w", ErrInvalidSegment)
			}
			if len(body) < 4 {
				return fmt.Errorf("tfdt of %d bytes: %w", len(body), ErrInvalidSegment)
			}
			d := shift(id)
			switch body[0] {
			case 0:
				if len(body) < 8 {
					return fmt.Errorf("tfdt version 0 of %d bytes: %w", len(body), ErrInvalidSegment)
				}
				t := uint64(binary.BigEndian.Uint32(body[4:]))
				binary.BigEndian.PutUint32(body[4:], uint32(t-min(t, d)))
			case 1:
				if len(body) < 12 {
					return fmt.Errorf("tfdt version 1 of %d bytes: %w", len(body), ErrInvalidSegment)
				}
				t := binary.BigEndian.Uint64(body[4:])
				binary.BigEndian.PutUint64(body[4:], t-min(t, d))
			default:
				return fmt.Errorf("tfdt version %d: %w", body[0], ErrInvalidSegment)
			}
		}
		return nil
	})
}

// walkBoxes calls fn with the type and body of each box of b, which must
// hold whole boxes only (§4.2: 32-bit sizes, or 1 and a 64-bit size).
func walkBoxes(b []byte, fn func(typ string, body []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("%d bytes left after the last box: %w", len(b), ErrInvalidSegment)
		}
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		if size == 1 {
			if len(b) < 16 {
				return fmt.Errorf("truncated large box header: %w", ErrInvalidSegment)
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return fmt.Errorf("%q box of %d bytes in %d: %w", b[4:8], size, len(b), ErrInvalidSegment)
		}
		if err := fn(string(b[4:8]), b[hdr:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}
