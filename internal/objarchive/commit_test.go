package objarchive

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
)

// TestGroupCommit: one statement indexes several streams' rows, and each
// stream gets its own outcome — a stream behind its head, or whose rows
// PostgreSQL refuses, fails alone while the others are committed.
func TestGroupCommit(t *testing.T) {
	url := pgtest.Start(t)
	x, err := openIndex(t.Context(), url, pgtest.NewSchema(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	req := func(stream string, nums ...archive.Number) *insertReq {
		r := &insertReq{ctx: t.Context(), stream: stream, done: make(chan insertRes, 1)}
		for _, n := range nums {
			f := &archive.Fragment{Number: n, ProducerTime: time.Unix(1, 0), Duration: time.Second, Size: 10, Header: archivetest.Header}
			r.rows = append(r.rows, row{f: f, object: objectKey(stream, nums[0]), objectEnd: nums[len(nums)-1].Millis})
		}
		return r
	}
	num := func(ms uint64) archive.Number { return archive.Number{Millis: ms, Seq: 1} }
	// The head of "behind" is at 100.
	if _, err := x.insert(t.Context(), "behind", req("behind", num(100)).rows); err != nil {
		t.Fatal(err)
	}
	group := []*insertReq{
		req("zeta", num(10)),
		req("behind", num(50)),
		req("alpha", num(10), num(20)),
		req("refused", num(30), num(30)), // the same number twice: a primary key violation
	}
	x.commitGroup(group)
	want := map[string]error{"zeta": nil, "alpha": nil, "behind": ErrNumberBehind, "refused": errAny}
	for _, r := range group {
		res := <-r.done
		switch w := want[r.stream]; {
		case w == nil && res.err != nil:
			t.Errorf("%s: %v, want committed", r.stream, res.err)
		case w == errAny && res.err == nil, w != nil && w != errAny && !errors.Is(res.err, w):
			t.Errorf("%s: %v, want %v", r.stream, res.err, w)
		}
		if r.stream == "behind" && res.last != num(100) {
			t.Errorf("behind: head %v, want %v", res.last, num(100))
		}
	}
	for stream, rows := range map[string]int{"zeta": 1, "alpha": 2, "behind": 1, "refused": 0} {
		var n int
		if err := x.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+x.fragments+` WHERE stream = $1`, stream).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != rows {
			t.Errorf("%s: %d rows indexed, want %d", stream, n, rows)
		}
	}
}

// errAny stands for any error in TestGroupCommit's table.
var errAny = errors.New("any error")

func TestSplitDuplicates(t *testing.T) {
	r := func(s string) *insertReq { return &insertReq{stream: s} }
	a1, b1, a2, a3, c1 := r("a"), r("b"), r("a"), r("a"), r("c")
	unique, later := splitDuplicates([]*insertReq{a1, b1, a2, a3, c1}, nil)
	if !slices.Equal(unique, []*insertReq{a1, b1, c1}) || !slices.Equal(later, []*insertReq{a2, a3}) {
		t.Errorf("unique %v, later %v", unique, later)
	}
}
