package archive

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Number is a fragment number. It encodes the server's ingest time in
// milliseconds and a sequence that orders fragments received in the same
// millisecond, so numbers increase with ingest time across every stream of
// an archive. On the wire it is a 47-digit decimal string (KVS fragment
// numbers are 40–50-digit decimal strings): "91", 20 digits of milliseconds
// and 25 digits of sequence. All numbers have the same width, so comparing
// the strings compares the numbers.
type Number struct {
	// Millis is the ingest time in Unix milliseconds.
	Millis uint64
	// Seq orders numbers within one millisecond.
	Seq uint64
}

const (
	numberPrefix = "91"
	numberLen    = len(numberPrefix) + 20 + 25
)

// ErrBadNumber is returned by ParseNumber for a string that is not a
// fragment number of this archive.
var ErrBadNumber = errors.New("archive: not a fragment number")

// String formats n as the wire's decimal string.
func (n Number) String() string {
	return fmt.Sprintf("%s%020d%025d", numberPrefix, n.Millis, n.Seq)
}

// IsZero reports whether n is the zero Number, which precedes every
// fragment.
func (n Number) IsZero() bool { return n == Number{} }

// Compare returns -1, 0 or +1 as n is less than, equal to or greater than m.
func (n Number) Compare(m Number) int {
	switch {
	case n.Millis < m.Millis:
		return -1
	case n.Millis > m.Millis:
		return 1
	case n.Seq < m.Seq:
		return -1
	case n.Seq > m.Seq:
		return 1
	}
	return 0
}

// Less reports whether n orders before m.
func (n Number) Less(m Number) bool { return n.Compare(m) < 0 }

// Time returns the ingest time encoded in n.
func (n Number) Time() time.Time { return time.UnixMilli(int64(n.Millis)).UTC() }

// ParseNumber parses a fragment number made by this archive.
func ParseNumber(s string) (Number, error) {
	if len(s) != numberLen || s[:len(numberPrefix)] != numberPrefix {
		return Number{}, ErrBadNumber
	}
	ms, err := strconv.ParseUint(s[2:22], 10, 64)
	if err != nil {
		return Number{}, ErrBadNumber
	}
	seq, err := strconv.ParseUint(s[22:], 10, 64)
	if err != nil {
		return Number{}, ErrBadNumber
	}
	return Number{Millis: ms, Seq: seq}, nil
}

// numberer hands out increasing numbers from a clock that may stall or go
// back (the sequence then keeps counting within the last millisecond).
type numberer struct {
	last Number
}

func (g *numberer) next(now time.Time) Number {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms > g.last.Millis {
		g.last = Number{Millis: ms}
	} else {
		g.last.Seq++
	}
	return g.last
}

// observe makes later numbers greater than n (numbers found on disk).
func (g *numberer) observe(n Number) {
	if g.last.Less(n) {
		g.last = n
	}
}
