package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is a tiny test-only MP4 reader: enough to pull samples and codec
// configuration out of the ffmpeg-made files in testdata and out of the
// files this package writes, so tests can compare them.

var errBox = errors.New("malformed box")

type box struct {
	typ  string
	body []byte
}

// readBoxes splits b into the boxes at one level (ISO/IEC 14496-12 §4.2).
func readBoxes(b []byte) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(b) < 8 {
			return out, fmt.Errorf("%d bytes left: %w", len(b), errBox)
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return out, fmt.Errorf("largesize: %w", errBox)
			}
			size = binary.BigEndian.Uint64(b[8:])
			hdr = 16
		}
		if size < hdr || size > uint64(len(b)) {
			return out, fmt.Errorf("box %q of size %d with %d bytes: %w", typ, size, len(b), errBox)
		}
		out = append(out, box{typ: typ, body: b[hdr:size]})
		b = b[size:]
	}
	return out, nil
}

// child returns the body of the first box at the end of path below b.
func child(b []byte, path ...string) ([]byte, error) {
	for _, typ := range path {
		boxes, err := readBoxes(b)
		if err != nil {
			return nil, err
		}
		found := false
		for _, bx := range boxes {
			if bx.typ == typ {
				b, found = bx.body, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no %q: %w", typ, errBox)
		}
	}
	return b, nil
}

func children(b []byte, typ string) ([][]byte, error) {
	boxes, err := readBoxes(b)
	var out [][]byte
	for _, bx := range boxes {
		if bx.typ == typ {
			out = append(out, bx.body)
		}
	}
	return out, err
}

type demuxSample struct {
	dts      uint64
	cto      int32
	duration uint32
	key      bool
	data     []byte
}

type demuxTrack struct {
	id        uint32
	entry     string // sample entry type
	codec     Codec
	timescale uint32
	config    []byte // avcC/hvcC body, AudioSpecificConfig or OpusHead
	edits     []edit
	samples   []demuxSample
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) n(k int) []byte {
	if r.err != nil || len(r.b) < k {
		r.err = errBox
		return make([]byte, k)
	}
	v := r.b[:k]
	r.b = r.b[k:]
	return v
}
func (r *reader) u8() uint8   { return r.n(1)[0] }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.n(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.n(8)) }

// sampleEntry parses the stsd body into the entry type and codec config.
func sampleEntry(stsd []byte) (string, Codec, []byte, error) {
	if len(stsd) < 8 {
		return "", 0, nil, errBox
	}
	entries, err := readBoxes(stsd[8:])
	if err != nil || len(entries) == 0 {
		return "", 0, nil, fmt.Errorf("stsd: %w", errBox)
	}
	e := entries[0]
	switch e.typ {
	case "avc1", "hvc1", "hev1":
		if len(e.body) < 78 {
			return "", 0, nil, errBox
		}
		want, codec := "avcC", H264
		if e.typ != "avc1" {
			want, codec = "hvcC", H265
		}
		cfg, err := child(e.body[78:], want)
		return e.typ, codec, cfg, err
	case "mp4a":
		if len(e.body) < 28 {
			return "", 0, nil, errBox
		}
		esds, err := child(e.body[28:], "esds")
		if err != nil || len(esds) < 4 {
			return "", 0, nil, errBox
		}
		asc, err := findDescriptor(esds[4:], 0x05)
		return e.typ, AAC, asc, err
	case "Opus":
		if len(e.body) < 28 {
			return "", 0, nil, errBox
		}
		dops, err := child(e.body[28:], "dOps")
		if err != nil || len(dops) < 11 {
			return "", 0, nil, errBox
		}
		// Back to an OpusHead (RFC 7845 §5.1).
		h := []byte("OpusHead")
		h = append(h, 1, dops[1])
		h = binary.LittleEndian.AppendUint16(h, binary.BigEndian.Uint16(dops[2:]))
		h = binary.LittleEndian.AppendUint32(h, binary.BigEndian.Uint32(dops[4:]))
		h = binary.LittleEndian.AppendUint16(h, binary.BigEndian.Uint16(dops[8:]))
		h = append(h, dops[10:]...)
		return e.typ, Opus, h, nil
	}
	return e.typ, 0, nil, fmt.Errorf("sample entry %q: %w", e.typ, errBox)
}

// findDescriptor walks ISO/IEC 14496-1 descriptors depth-first for tag.
func findDescriptor(b []byte, tag uint8) ([]byte, error) {
	for len(b) > 1 {
		t := b[0]
		b = b[1:]
		n := 0
		for i := 0; ; i++ {
			if len(b) == 0 || i == 4 {
				return nil, errBox
			}
			c := b[0]
			b = b[1:]
			n = n<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if n > len(b) {
			return nil, errBox
		}
		body := b[:n]
		b = b[n:]
		if t == tag {
			return body, nil
		}
		switch t {
		case 0x03: // ES_Descriptor: ES_ID, flags (no optional fields in our files)
			if len(body) >= 3 {
				if d, err := findDescriptor(body[3:], tag); err == nil {
					return d, nil
				}
			}
		case 0x04: // DecoderConfigDescriptor
			if len(body) >= 13 {
				if d, err := findDescriptor(body[13:], tag); err == nil {
					return d, nil
				}
			}
		}
	}
	return nil, errBox
}

// demuxProgressive reads every track of a non-fragmented MP4 file.
func demuxProgressive(file []byte) ([]demuxTrack, error) {
	moov, err := child(file, "moov")
	if err != nil {
		return nil, err
	}
	traks, err := children(moov, "trak")
	if err != nil {
		return nil, err
	}
	var out []demuxTrack
	for _, trak := range traks {
		var t demuxTrack
		tkhd, err := child(trak, "tkhd")
		if err != nil || len(tkhd) < 24 {
			return nil, errBox
		}
		if tkhd[0] == 1 {
			t.id = binary.BigEndian.Uint32(tkhd[20:])
		} else {
			t.id = binary.BigEndian.Uint32(tkhd[12:])
		}
		if elst, err := child(trak, "edts", "elst"); err == nil {
			r := &reader{b: elst}
			v := r.u8()
			r.n(3)
			for range r.u32() {
				var e edit
				if v == 1 {
					e.segmentDuration, e.mediaTime = r.u64(), int64(r.u64())
				} else {
					e.segmentDuration, e.mediaTime = uint64(r.u32()), int64(int32(r.u32()))
				}
				r.u32()
				if r.err != nil {
					return nil, r.err
				}
				t.edits = append(t.edits, e)
			}
		}
		mdhd, err := child(trak, "mdia", "mdhd")
		if err != nil || len(mdhd) < 24 {
			return nil, errBox
		}
		if mdhd[0] == 1 {
			t.timescale = binary.BigEndian.Uint32(mdhd[20:])
		} else {
			t.timescale = binary.BigEndian.Uint32(mdhd[12:])
		}
		stbl, err := child(trak, "mdia", "minf", "stbl")
		if err != nil {
			return nil, err
		}
		stsd, err := child(stbl, "stsd")
		if err != nil {
			return nil, err
		}
		if t.entry, t.codec, t.config, err = sampleEntry(stsd); err != nil {
			return nil, err
		}
		if err := t.readTables(file, stbl); err != nil {
			return nil, fmt.Errorf("track %d: %w", t.id, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func (t *demuxTrack) readTables(file, stbl []byte) error {
	tab := func(typ string) *reader {
		b, err := child(stbl, typ)
		if err != nil {
			return nil
		}
		r := &reader{b: b}
		return r
	}
	// stsz
	r := tab("stsz")
	if r == nil {
		return fmt.Errorf("no stsz: %w", errBox)
	}
	r.n(4)
	fixed, count := r.u32(), r.u32()
	if count > 1<<20 {
		return errBox
	}
	sizes := make([]uint32, count)
	for i := range sizes {
		if fixed != 0 {
			sizes[i] = fixed
		} else {
			sizes[i] = r.u32()
		}
	}
	if r.err != nil {
		return r.err
	}
	t.samples = make([]demuxSample, count)
	// stts
	if r = tab("stts"); r == nil {
		return fmt.Errorf("no stts: %w", errBox)
	}
	r.n(4)
	var dts uint64
	k := 0
	for range r.u32() {
		n, d := r.u32(), r.u32()
		for range n {
			if k >= len(t.samples) || r.err != nil {
				return errBox
			}
			t.samples[k].dts, t.samples[k].duration = dts, d
			dts += uint64(d)
			k++
		}
	}
	// ctts
	if r = tab("ctts"); r != nil {
		r.n(4)
		k = 0
		for range r.u32() {
			n, o := r.u32(), int32(r.u32())
			for range n {
				if k >= len(t.samples) || r.err != nil {
					return errBox
				}
				t.samples[k].cto = o
				k++
			}
		}
	}
	// stss
	if r = tab("stss"); r != nil {
		r.n(4)
		for range r.u32() {
			i := r.u32()
			if i == 0 || int(i) > len(t.samples) || r.err != nil {
				return errBox
			}
			t.samples[i-1].key = true
		}
	} else {
		for i := range t.samples {
			t.samples[i].key = true
		}
	}
	// chunk offsets
	var offsets []uint64
	if r = tab("stco"); r != nil {
		r.n(4)
		for range r.u32() {
			offsets = append(offsets, uint64(r.u32()))
			if r.err != nil {
				return r.err
			}
		}
	} else if r = tab("co64"); r != nil {
		r.n(4)
		for range r.u32() {
			offsets = append(offsets, r.u64())
			if r.err != nil {
				return r.err
			}
		}
	}
	// stsc
	if r = tab("stsc"); r == nil {
		return fmt.Errorf("no stsc: %w", errBox)
	}
	r.n(4)
	type run struct{ first, per uint32 }
	var runs []run
	for range r.u32() {
		runs = append(runs, run{r.u32(), r.u32()})
		r.u32()
		if r.err != nil {
			return r.err
		}
	}
	k = 0
	for ci, off := range offsets {
		per := uint32(0)
		for _, rn := range runs {
			if rn.first <= uint32(ci+1) {
				per = rn.per
			}
		}
		for range per {
			if k >= len(t.samples) {
				return errBox
			}
			end := off + uint64(sizes[k])
			if end > uint64(len(file)) {
				return errBox
			}
			t.samples[k].data = file[off:end]
			off = end
			k++
		}
	}
	if k != len(t.samples) {
		return fmt.Errorf("chunks hold %d of %d samples: %w", k, len(t.samples), errBox)
	}
	return nil
}

// demuxFragmented reads an init segment followed by fragments.
func demuxFragmented(file []byte) ([]demuxTrack, error) {
	top, err := readBoxes(file)
	if err != nil {
		return nil, err
	}
	var tracks []demuxTrack
	byID := map[uint32]int{}
	for i, bx := range top {
		switch bx.typ {
		case "moov":
			traks, err := children(bx.body, "trak")
			if err != nil {
				return nil, err
			}
			for _, trak := range traks {
				var t demuxTrack
				tkhd, err := child(trak, "tkhd")
				if err != nil || len(tkhd) < 16 {
					return nil, errBox
				}
				t.id = binary.BigEndian.Uint32(tkhd[12:])
				mdhd, err := child(trak, "mdia", "mdhd")
				if err != nil || len(mdhd) < 16 {
					return nil, errBox
				}
				t.timescale = binary.BigEndian.Uint32(mdhd[12:])
				stsd, err := child(trak, "mdia", "minf", "stbl", "stsd")
				if err != nil {
					return nil, err
				}
				if t.entry, t.codec, t.config, err = sampleEntry(stsd); err != nil {
					return nil, err
				}
				byID[t.id] = len(tracks)
				tracks = append(tracks, t)
			}
		case "moof":
			if i+1 >= len(top) || top[i+1].typ != "mdat" {
				return nil, fmt.Errorf("moof without mdat: %w", errBox)
			}
			// Offset of this moof in file: recompute by scanning.
			moofStart := offsetOf(file, bx.body) - 8
			trafs, err := children(bx.body, "traf")
			if err != nil {
				return nil, err
			}
			for _, traf := range trafs {
				tfhd, err := child(traf, "tfhd")
				if err != nil || len(tfhd) < 8 {
					return nil, errBox
				}
				ti, ok := byID[binary.BigEndian.Uint32(tfhd[4:])]
				if !ok {
					return nil, fmt.Errorf("unknown track: %w", errBox)
				}
				tfdt, err := child(traf, "tfdt")
				if err != nil || len(tfdt) < 8 {
					return nil, errBox
				}
				r := &reader{b: tfdt}
				var dts uint64
				if r.u8() == 1 {
					r.n(3)
					dts = r.u64()
				} else {
					r.n(3)
					dts = uint64(r.u32())
				}
				trun, err := child(traf, "trun")
				if err != nil {
					return nil, err
				}
				r = &reader{b: trun}
				r.u8()
				fl := r.n(3)
				flags := uint32(fl[0])<<16 | uint32(fl[1])<<8 | uint32(fl[2])
				n := r.u32()
				off := moofStart + int(int32(r.u32()))
				for range n {
					if r.err != nil {
						return nil, r.err
					}
					var s demuxSample
					s.dts = dts
					s.duration = r.u32()
					size := int(r.u32())
					f := r.u32()
					s.key = f&0x00010000 == 0
					if flags&0x800 != 0 {
						s.cto = int32(r.u32())
					}
					if off < 0 || off+size > len(file) {
						return nil, errBox
					}
					s.data = file[off : off+size]
					off += size
					dts += uint64(s.duration)
					tracks[ti].samples = append(tracks[ti].samples, s)
				}
			}
		}
	}
	return tracks, nil
}

// offsetOf returns the offset of sub inside b; sub must alias b.
func offsetOf(b, sub []byte) int {
	if len(sub) == 0 {
		return 0
	}
	return cap(b) - cap(sub)
}
