package objarchive

import (
	"errors"
	"io"
)

// partsReader reads the concatenation of parts without copying them into
// one buffer. It seeks, as s3blob needs to (the SDK reads the body twice:
// once to sign it, once to send it).
type partsReader struct {
	parts [][]byte
	size  int64 // the parts' total length
	off   int64
}

func (r *partsReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	var start int64 // of the part at hand
	for _, part := range r.parts {
		end := start + int64(len(part))
		if n == len(p) {
			break
		}
		if r.off < end {
			c := copy(p[n:], part[r.off-start:])
			n += c
			r.off += int64(c)
		}
		start = end
	}
	return n, nil
}

func (r *partsReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("objarchive: seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("objarchive: seek: negative position")
	}
	r.off = offset
	return offset, nil
}
