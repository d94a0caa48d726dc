package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/testinfra/faultfs"
)

// liveNumbers returns the numbers in stream's live buffer, oldest first.
func liveNumbers(a *Archive, stream string) []Number {
	st, _ := a.stream(stream, false)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []Number
	for _, f := range st.ring {
		out = append(out, f.Number)
	}
	return out
}

// readAll follows stream from the start with Next and ReadCluster and
// returns every cluster it reads.
func readAll(t *testing.T, a *Archive, stream string) [][]byte {
	t.Helper()
	var out [][]byte
	var n Number
	for {
		f, _, err := a.Next(stream, n)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return out
		}
		c, err := a.ReadCluster(stream, f)
		if err != nil {
			t.Fatalf("ReadCluster(%s): %v", f.Number, err)
		}
		out = append(out, c)
		n = f.Number
	}
}

func TestLiveCopyDroppedWhenDurable(t *testing.T) {
	a := openTest(t, t.TempDir(), Config{})
	put(t, a, "cam", time.Now(), []byte("one"), true)
	put(t, a, "cam", time.Now(), []byte("two"), true)
	if l := liveNumbers(a, "cam"); len(l) != 0 {
		t.Fatalf("live buffer holds %d durable fragments", len(l))
	}
	if got := a.liveTotal.Load(); got != 0 {
		t.Fatalf("live bytes = %d, want 0", got)
	}
	// Readers get them from disk, in order.
	got := readAll(t, a, "cam")
	if len(got) != 2 || string(got[0]) != "one" || string(got[1]) != "two" {
		t.Fatalf("read %q", got)
	}
	// Live-only fragments stay.
	p := put(t, a, "live", time.Now(), []byte("x"), false)
	if l := liveNumbers(a, "live"); len(l) != 1 || l[0] != p.Number {
		t.Fatalf("live-only buffer = %v", l)
	}
}

func TestLiveTotalBytes(t *testing.T) {
	const size = 100
	a := openTest(t, t.TempDir(), Config{LiveTotalBytes: 5 * size, LiveKeepsDurable: true})
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, size) }
	// Oldest first: d0 (durable), l1 (live-only), d2, l3, d4.
	var nums []Number
	for i := range 5 {
		stream, durable := "disk", true
		if i%2 == 1 {
			stream, durable = "live", false
		}
		nums = append(nums, put(t, a, stream, time.Now(), payload(i), durable).Number)
	}
	if got := a.liveTotal.Load(); got != 5*size {
		t.Fatalf("live bytes = %d, want %d (nothing over the bound yet)", got, 5*size)
	}
	// Each step puts one more live-only fragment, one over the bound.
	steps := []struct {
		name       string
		disk, live []int // live buffers afterwards (indexes into nums)
	}{
		{"oldest durable copy first", []int{2, 4}, []int{1, 3, 5}},
		{"then the next durable one, not the newest", []int{4}, []int{1, 3, 5, 6}},
		{"then the oldest live-only", []int{4}, []int{3, 5, 6, 7}},
	}
	pick := func(idx []int) []Number {
		var out []Number
		for _, i := range idx {
			out = append(out, nums[i])
		}
		return out
	}
	for i, s := range steps {
		nums = append(nums, put(t, a, "live", time.Now(), payload(5+i), false).Number)
		if got := liveNumbers(a, "disk"); !equalNumbers(got, pick(s.disk)) {
			t.Fatalf("%s: disk live buffer %v, want %v", s.name, got, pick(s.disk))
		}
		if got := liveNumbers(a, "live"); !equalNumbers(got, pick(s.live)) {
			t.Fatalf("%s: live-only buffer %v, want %v", s.name, got, pick(s.live))
		}
		if got := a.liveTotal.Load(); got > 5*size {
			t.Fatalf("%s: live bytes %d over the bound", s.name, got)
		}
	}
	// Evicted durable fragments are still read, from disk; evicted
	// live-only ones are gone.
	disk := readAll(t, a, "disk")
	if len(disk) != 3 || !bytes.Equal(disk[0], payload(0)) || !bytes.Equal(disk[1], payload(2)) || !bytes.Equal(disk[2], payload(4)) {
		t.Fatalf("disk stream reads %d clusters", len(disk))
	}
	live := readAll(t, a, "live")
	if len(live) != 4 || !bytes.Equal(live[0], payload(3)) {
		t.Fatalf("live stream reads %d clusters", len(live))
	}
}

func TestLiveTotalKeepsNewest(t *testing.T) {
	a := openTest(t, t.TempDir(), Config{LiveTotalBytes: 1})
	for _, s := range []string{"a", "b", "c"} {
		put(t, a, s, time.Now(), []byte("newest"), false)
	}
	for _, s := range []string{"a", "b", "c"} {
		if l := liveNumbers(a, s); len(l) != 1 {
			t.Fatalf("stream %s lost its newest fragment: %v", s, l)
		}
	}
}

func equalNumbers(a, b []Number) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadClusterKeepsRecent: a recent durable fragment read from disk is
// kept in memory for the next reader; an old one is not.
func TestReadClusterKeepsRecent(t *testing.T) {
	a := openTest(t, t.TempDir(), Config{LiveFragments: 2})
	var frags []*Fragment
	for _, p := range []string{"old", "mid", "new"} {
		put(t, a, "cam", time.Now(), []byte(p), true)
		f, err := a.Latest("cam")
		if err != nil || f == nil {
			t.Fatalf("Latest: %v %v", f, err)
		}
		frags = append(frags, f)
	}
	if l := liveNumbers(a, "cam"); len(l) != 0 {
		t.Fatalf("live buffer %v before any read", l)
	}
	for _, tc := range []struct {
		f    *Fragment
		want string
		kept bool
	}{{frags[0], "old", false}, {frags[2], "new", true}, {frags[1], "mid", true}} {
		c1, err := a.ReadCluster("cam", tc.f)
		if err != nil || string(c1) != tc.want {
			t.Fatalf("ReadCluster = %q, %v; want %q", c1, err, tc.want)
		}
		c2, _ := a.ReadCluster("cam", tc.f)
		if same := &c1[0] == &c2[0]; same != tc.kept {
			t.Errorf("%s: second read served from memory: %v, want %v", tc.want, same, tc.kept)
		}
	}
	if l := liveNumbers(a, "cam"); len(l) != 2 || l[0] != frags[1].Number || l[1] != frags[2].Number {
		t.Fatalf("live buffer %v, want the two newest", l)
	}
	if got := a.liveTotal.Load(); got != int64(len("mid")+len("new")) {
		t.Fatalf("live bytes %d", got)
	}
	// Next still walks every fragment once, in order.
	if got := readAll(t, a, "cam"); len(got) != 3 || string(got[0]) != "old" || string(got[2]) != "new" {
		t.Fatalf("read %q", got)
	}
	if err := a.DeleteStream("cam"); err != nil {
		t.Fatal(err)
	}
	if got := a.liveTotal.Load(); got != 0 {
		t.Fatalf("live bytes %d after DeleteStream", got)
	}
}

// syncGate wraps the archive's segment files so that a test can hold their
// syncs (a slow disk) and fail one (an I/O error).
type syncGate struct {
	// inner opens the files; nil means os.OpenFile.
	inner func(name string, flag int, perm os.FileMode) (File, error)

	mu   sync.Mutex
	open chan struct{} // closed: syncs run
	fail error         // returned by the next segment sync
}

func newSyncGate() *syncGate {
	g := &syncGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// hold makes segment syncs wait until release.
func (g *syncGate) hold() { g.mu.Lock(); g.open = make(chan struct{}); g.mu.Unlock() }

func (g *syncGate) release() { g.mu.Lock(); close(g.open); g.mu.Unlock() }

// failNext makes the next segment sync fail with err.
func (g *syncGate) failNext(err error) { g.mu.Lock(); g.fail = err; g.mu.Unlock() }

// OpenFile serves as Config.OpenFile.
func (g *syncGate) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	open := g.inner
	if open == nil {
		open = openOSFile
	}
	f, err := open(name, flag, perm)
	if err != nil || filepath.Ext(name) != segExt {
		return f, err
	}
	return &gatedFile{File: f, name: name, g: g}, nil
}

type gatedFile struct {
	File
	name string
	g    *syncGate
}

func (f *gatedFile) Sync() error {
	f.g.mu.Lock()
	open, err := f.g.open, f.g.fail
	f.g.fail = nil
	f.g.mu.Unlock()
	<-open
	if err != nil {
		return &os.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return f.File.Sync()
}

// TestLiveReaderSeesPendingFragments: while syncs are slow, more fragments
// wait to become durable than the live buffer's bounds allow. A reader
// following the stream with Next still gets every one, in order, before
// and after they become durable; none is skipped.
func TestLiveReaderSeesPendingFragments(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"fragment bound", Config{LiveFragments: 4}},
		{"byte bound", Config{LiveBytes: 250}},
		{"keeping durable copies", Config{LiveFragments: 4, LiveKeepsDurable: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newSyncGate()
			cfg := tt.cfg
			cfg.OpenFile = g.OpenFile
			a := openTest(t, t.TempDir(), cfg)
			payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 100) }
			var (
				got  [][]byte
				last Number
			)
			// follow reads what Next returns until it has nothing more.
			follow := func() {
				t.Helper()
				for {
					f, wait, err := a.Next("cam", last)
					if err != nil {
						t.Fatal(err)
					}
					if f == nil {
						if wait == nil {
							t.Fatal("Next returned neither a fragment nor a channel")
						}
						return
					}
					c, err := a.ReadCluster("cam", f)
					if err != nil {
						t.Fatalf("ReadCluster(%s): %v", f.Number, err)
					}
					got, last = append(got, c), f.Number
				}
			}
			put(t, a, "cam", time.Now(), payload(0), true)
			follow()

			g.hold()
			const n = 10
			var dones []<-chan error
			for i := 1; i <= n; i++ {
				f := &Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Frames: 1, Header: testHeader}
				done, err := a.Put("cam", f, payload(i), true)
				if err != nil {
					t.Fatal(err)
				}
				dones = append(dones, done)
				if i == 1 {
					follow() // at the live edge; then the reader falls behind
				}
			}
			follow()
			g.release()
			for _, done := range dones {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			follow()
			if len(got) != n+1 {
				t.Fatalf("reader got %d fragments, want %d", len(got), n+1)
			}
			for i, c := range got {
				if !bytes.Equal(c, payload(i)) {
					t.Fatalf("fragment %d: read %q, want %q", i, c[:1], payload(i)[:1])
				}
			}
			// Once durable, the live buffer is within its bounds again.
			l := liveNumbers(a, "cam")
			if max := cfg.LiveFragments; max > 0 && len(l) > max {
				t.Errorf("live buffer holds %d fragments, bound %d", len(l), max)
			}
			if got := a.liveTotal.Load(); cfg.LiveBytes > 0 && got > cfg.LiveBytes {
				t.Errorf("live buffer holds %d bytes, bound %d", got, cfg.LiveBytes)
			}
		})
	}
}

// TestFailedFragmentNotServedLive: a fragment whose storage failed (the
// producer is told so) is no longer served to live readers; the next one
// is.
func TestFailedFragmentNotServedLive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inject func(*faultfs.Faults, *syncGate)
	}{
		{"write fails", func(fs *faultfs.Faults, _ *syncGate) { fs.FailWrite(syscall.ENOSPC) }},
		{"sync fails", func(_ *faultfs.Faults, g *syncGate) { g.failNext(syscall.EIO) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs, g := &faultfs.Faults{}, newSyncGate()
			g.inner = faultyOpen(fs)
			a := openTest(t, t.TempDir(), Config{OpenFile: g.OpenFile})
			first := put(t, a, "cam", time.Now(), []byte("first"), true)
			if f, _, err := a.Next("cam", Number{}); err != nil || f == nil || f.Number != first.Number {
				t.Fatalf("Next = %v, %v; want the first fragment", f, err)
			}

			tt.inject(fs, g)
			bad := &Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Duration: time.Second, Frames: 1, Header: testHeader}
			done, err := a.Put("cam", bad, []byte("failed"), true)
			if err == nil {
				err = <-done
			}
			if !errors.Is(err, ErrStorage) {
				t.Fatalf("Put: %v, want ErrStorage", err)
			}

			f, wait, err := a.Next("cam", first.Number)
			if err != nil || f != nil {
				t.Fatalf("Next after the failed fragment = %v, %v; want nothing yet", f, err)
			}
			if l, _ := a.Latest("cam"); l == nil || l.Number != first.Number {
				t.Fatalf("Latest = %v, want the first fragment", l)
			}
			if _, err := a.Get("cam", bad.Number); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(failed fragment): %v, want ErrNotFound", err)
			}
			next := put(t, a, "cam", time.Now(), []byte("next"), true)
			<-wait
			f, _, err = a.Next("cam", first.Number)
			if err != nil || f == nil || f.Number != next.Number {
				t.Fatalf("Next = %v, %v; want the next fragment", f, err)
			}
			if c, err := a.ReadCluster("cam", f); err != nil || string(c) != "next" {
				t.Fatalf("ReadCluster = %q, %v", c, err)
			}
			st, _ := a.stream("cam", false)
			st.mu.Lock()
			var held int64
			for _, f := range st.ring {
				held += f.Size
			}
			st.mu.Unlock()
			if got := a.liveTotal.Load(); got != held {
				t.Errorf("live bytes = %d, the live buffer holds %d", got, held)
			}
		})
	}
}
