package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Segment files are append-only sequences of self-describing records:
//
//	offset size
//	0      4    magic "OKVR"
//	4      1    kind: recHeader or recFragment
//	5      3    zero
//	8      4    meta length M (big endian)
//	12     4    data length D
//	16     4    CRC-32C of data
//	20     4    CRC-32C of bytes 0..19 and meta
//	24     M    meta
//	24+M   D    data
//
// A header record holds a stream header (meta: TimecodeScale; data: the raw
// Tracks element); a fragment record holds the fragment's metadata and its
// Cluster bytes, and refers to the header record before it in the same
// segment (every segment starts with a header record, so a segment can be
// read, moved or deleted on its own). Because the metadata travels in the
// same record as the data, one fdatasync makes both durable together, and
// recovery needs no second file to reconcile: the index is rebuilt from the
// records, and a torn tail (short record or bad CRC) is cut off.

const (
	recMagic    = "OKVR"
	recHdrLen   = 24
	recHeader   = 1
	recFragment = 2
	// fragMetaLen is the fixed part of a fragment record's meta.
	fragMetaLen = 8 + 8 + 8 + 8 + 8 + 4 + 4 + 8
	segExt      = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that is incomplete or fails its checksums.
var errTorn = errors.New("archive: torn or corrupt record")

// fragMeta is the fixed part of a fragment record's meta, followed by the
// producer's raw Tags element (possibly empty).
type fragMeta struct {
	num       Number
	producer  int64 // Unix ns
	duration  int64 // ns
	timecode  uint64
	frames    uint32
	tagsLen   uint32
	headerOff int64
}

func (m *fragMeta) marshal(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, m.num.Millis)
	dst = binary.BigEndian.AppendUint64(dst, m.num.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.producer))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.duration))
	dst = binary.BigEndian.AppendUint64(dst, m.timecode)
	dst = binary.BigEndian.AppendUint32(dst, m.frames)
	dst = binary.BigEndian.AppendUint32(dst, m.tagsLen)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.headerOff))
	return dst
}

func (m *fragMeta) unmarshal(b []byte) error {
	if len(b) < fragMetaLen {
		return errTorn
	}
	m.num.Millis = binary.BigEndian.Uint64(b)
	m.num.Seq = binary.BigEndian.Uint64(b[8:])
	m.producer = int64(binary.BigEndian.Uint64(b[16:]))
	m.duration = int64(binary.BigEndian.Uint64(b[24:]))
	m.timecode = binary.BigEndian.Uint64(b[32:])
	m.frames = binary.BigEndian.Uint32(b[40:])
	m.tagsLen = binary.BigEndian.Uint32(b[44:])
	m.headerOff = int64(binary.BigEndian.Uint64(b[48:]))
	if int(m.tagsLen) != len(b)-fragMetaLen {
		return errTorn
	}
	return nil
}

// appendRecordHeader appends the 24-byte record header and meta.
func appendRecord(dst []byte, kind byte, meta, data []byte) []byte {
	start := len(dst)
	dst = append(dst, recMagic...)
	dst = append(dst, kind, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(meta)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
	h := crc32.Update(0, castagnoli, dst[start:start+20])
	h = crc32.Update(h, castagnoli, meta)
	dst = binary.BigEndian.AppendUint32(dst, h)
	return append(dst, meta...)
}

// segment is one segment file of a stream.
type segment struct {
	id   uint64
	path string

	// Guarded by the stream's mu.
	f       File  // read (and, for the current segment, write) handle
	size    int64 // bytes written (the append offset)
	count   int   // index entries still pointing into it
	refs    int   // readers between lookup and ReadAt
	removed bool  // file deleted; close f when refs drops to 0

	syncMu sync.Mutex // serializes fdatasync of f
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segExt) }

// listSegments returns the segment ids in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segExt) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segExt), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// scannedRecord is one record found by scanSegment.
type scannedRecord struct {
	kind    byte
	off     int64 // record start
	dataOff int64
	meta    []byte
	dataLen int64
}

// scanSegment reads the records of f from the start and calls fn for each
// valid one. It returns the offset just past the last valid record: the
// durable end. When verifyData is set the data CRC is checked too (which
// reads every byte); otherwise only the header and meta checksums are.
func scanSegment(f File, verifyData bool, fn func(scannedRecord) error) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	fileSize := st.Size()
	var off int64
	var hdr [recHdrLen]byte
	var buf []byte
	for {
		if off+recHdrLen > fileSize {
			return off, nil
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return off, nil
		}
		if string(hdr[:4]) != recMagic || (hdr[4] != recHeader && hdr[4] != recFragment) {
			return off, nil
		}
		metaLen := int64(binary.BigEndian.Uint32(hdr[8:]))
		dataLen := int64(binary.BigEndian.Uint32(hdr[12:]))
		end := off + recHdrLen + metaLen + dataLen
		if metaLen > 1<<24 || end > fileSize {
			return off, nil
		}
		meta := make([]byte, metaLen)
		if _, err := f.ReadAt(meta, off+recHdrLen); err != nil {
			return off, nil
		}
		h := crc32.Update(0, castagnoli, hdr[:20])
		h = crc32.Update(h, castagnoli, meta)
		if h != binary.BigEndian.Uint32(hdr[20:]) {
			return off, nil
		}
		if verifyData {
			if int64(cap(buf)) < min(dataLen, 1<<20) {
				buf = make([]byte, min(dataLen, 1<<20))
			}
			var c uint32
			sr := io.NewSectionReader(f, off+recHdrLen+metaLen, dataLen)
			for {
				n, err := sr.Read(buf[:cap(buf)])
				c = crc32.Update(c, castagnoli, buf[:n])
				if err != nil {
					break
				}
			}
			if c != binary.BigEndian.Uint32(hdr[16:]) {
				return off, nil
			}
		}
		if err := fn(scannedRecord{kind: hdr[4], off: off, dataOff: off + recHdrLen + metaLen, meta: meta, dataLen: dataLen}); err != nil {
			return off, err
		}
		off = end
	}
}

// openOSFile is the default Config.OpenFile.
func openOSFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil File
	}
	return f, nil
}

// syncDir fsyncs a directory so that entries created in it are durable.
func (a *Archive) syncDir(dir string) error {
	d, err := a.cfg.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(dir), err)
	}
	return nil
}
