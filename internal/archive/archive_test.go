package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testHeader = &Header{TimecodeScale: 1_000_000, Tracks: []byte("\x16\x54\xae\x6b\x80")}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

func openTest(t *testing.T, dir string, cfg Config) *Archive {
	t.Helper()
	cfg.Dir = dir
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1
	}
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// put stores one fragment whose cluster is payload and waits until it is
// durable.
func put(t *testing.T, a *Archive, stream string, producer time.Time, payload []byte, durable bool) *Fragment {
	t.Helper()
	f := &Fragment{Number: a.NewNumber(), ProducerTime: producer, Duration: time.Second, Frames: 1, Header: testHeader}
	done, err := a.Put(stream, f, payload, durable)
	if err != nil {
		t.Fatal(err)
	}
	if done != nil {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	f.Size = int64(len(payload))
	return f
}

func TestNumber(t *testing.T) {
	g := numberer{}
	t0 := time.UnixMilli(1700000000123)
	a, b := g.next(t0), g.next(t0)
	c := g.next(t0.Add(-time.Second)) // clock went back
	d := g.next(t0.Add(time.Millisecond))
	for _, pair := range [][2]Number{{a, b}, {b, c}, {c, d}} {
		if !pair[0].Less(pair[1]) || pair[0].String() >= pair[1].String() {
			t.Errorf("%s should order before %s", pair[0], pair[1])
		}
	}
	s := a.String()
	if len(s) != 47 || strings.Trim(s, "0123456789") != "" {
		t.Fatalf("number %q is not 47 digits", s)
	}
	back, err := ParseNumber(s)
	if err != nil || back != a || back.Time() != t0.UTC() {
		t.Fatalf("ParseNumber(%s) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "123", "x" + s[1:], s + "0", "81" + s[2:]} {
		if _, err := ParseNumber(bad); err == nil {
			t.Errorf("ParseNumber(%q) accepted", bad)
		}
	}
}

func TestPutReadReopen(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	a := openTest(t, dir, Config{Now: clk.Now, SegmentSize: 300})
	var frags []*Fragment
	for i := range 10 {
		clk.Add(time.Second)
		frags = append(frags, put(t, a, "cam", clk.Now().Add(-time.Hour), bytes.Repeat([]byte{byte(i)}, 100), true))
	}
	check := func(a *Archive) {
		t.Helper()
		var n Number
		for i, want := range frags {
			f, wait, err := a.Next("cam", n)
			if err != nil || f == nil || wait != nil {
				t.Fatalf("Next(%d) = %v, %v, %v", i, f, wait, err)
			}
			if f.Number != want.Number || !f.ProducerTime.Equal(want.ProducerTime) || f.Size != 100 || f.Header.TimecodeScale != 1_000_000 {
				t.Fatalf("fragment %d = %+v, want %+v", i, f, want)
			}
			b, err := a.ReadCluster("cam", f)
			if err != nil || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 100)) {
				t.Fatalf("cluster %d = %v, %v", i, b, err)
			}
			n = f.Number
		}
		list, more, err := a.List("cam", ServerTime, frags[2].ServerTime(), frags[5].ServerTime(), Number{}, 100)
		if err != nil || more || len(list) != 4 || list[0].Number != frags[2].Number {
			t.Fatalf("List = %d fragments, more %v, err %v", len(list), more, err)
		}
		list, more, _ = a.List("cam", ProducerTime, time.Time{}, clk.Now(), Number{}, 3)
		if len(list) != 3 || !more {
			t.Fatalf("List by producer time with limit = %d, more %v", len(list), more)
		}
		f, _ := a.Seek("cam", ServerTime, frags[3].ServerTime().Add(500*time.Millisecond))
		if f == nil || f.Number != frags[3].Number {
			t.Fatalf("Seek inside fragment 3 = %v", f)
		}
		f, _ = a.Seek("cam", ProducerTime, frags[0].ProducerTime.Add(-time.Minute))
		if f == nil || f.Number != frags[0].Number {
			t.Fatalf("Seek before the first = %v", f)
		}
	}
	check(a)
	segs, _ := listSegments(filepath.Join(dir, "streams", "cam"))
	if len(segs) < 3 {
		t.Fatalf("segments %v: want rolls at SegmentSize", segs)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openTest(t, dir, Config{Now: clk.Now})
	check(b)
	// New numbers continue after the recovered ones even if the clock
	// went back.
	clk.Add(-time.Hour)
	if n := b.NewNumber(); !frags[9].Number.Less(n) {
		t.Fatalf("new number %s not after %s", n, frags[9].Number)
	}
}

func TestTornTail(t *testing.T) {
	for _, tt := range []struct {
		name string
		harm func(t *testing.T, path string, size int64)
		keep int
	}{
		{"cut inside the last record", func(t *testing.T, path string, size int64) { truncate(t, path, size-10) }, 4},
		{"cut inside the last header", func(t *testing.T, path string, size int64) { truncate(t, path, size-50-recHdrLen-fragMetaLen+5) }, 4},
		{"garbage appended", func(t *testing.T, path string, size int64) { appendBytes(t, path, []byte("garbage after the end")) }, 5},
		{"zeros appended", func(t *testing.T, path string, size int64) { appendBytes(t, path, make([]byte, 4096)) }, 5},
		{"flipped byte in the last data", func(t *testing.T, path string, size int64) { flip(t, path, size-3) }, 4},
		{"flipped byte in the last meta", func(t *testing.T, path string, size int64) { flip(t, path, size-50-fragMetaLen+2) }, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := newClock()
			a := openTest(t, dir, Config{Now: clk.Now})
			for i := range 5 {
				clk.Add(time.Second)
				put(t, a, "cam", clk.Now(), bytes.Repeat([]byte{byte('a' + i)}, 50), true)
			}
			a.Close()
			path := filepath.Join(dir, "streams", "cam", segmentName(1))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.harm(t, path, fi.Size())
			b := openTest(t, dir, Config{Now: clk.Now})
			got := 0
			for f, _, _ := b.Next("cam", Number{}); f != nil; f, _, _ = b.Next("cam", f.Number) {
				c, err := b.ReadCluster("cam", f)
				if err != nil || !bytes.Equal(c, bytes.Repeat([]byte{byte('a' + got)}, 50)) {
					t.Fatalf("fragment %d: %q, %v", got, c, err)
				}
				got++
			}
			if got != tt.keep {
				t.Fatalf("recovered %d fragments, want %d", got, tt.keep)
			}
			// The file was cut back to the durable end, and writing goes on.
			clk.Add(time.Second)
			put(t, b, "cam", clk.Now(), []byte("after recovery"), true)
			b.Close()
			c := openTest(t, dir, Config{Now: clk.Now})
			if f, _ := c.Latest("cam"); f == nil || f.Size != int64(len("after recovery")) {
				t.Fatalf("latest after reopen = %+v", f)
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	retention := map[string]time.Duration{"keep": time.Hour, "live": 0, "gone": time.Hour}
	var mu sync.Mutex
	a := openTest(t, dir, Config{Now: clk.Now, SegmentSize: 200, Retention: func(_ context.Context, s string) (time.Duration, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		r, ok := retention[s]
		return r, ok, nil
	}})
	for range 6 {
		put(t, a, "keep", clk.Now(), make([]byte, 100), true)
		put(t, a, "gone", clk.Now(), make([]byte, 100), true)
		clk.Add(20 * time.Minute)
	}
	put(t, a, "live", clk.Now(), make([]byte, 100), true)
	mu.Lock()
	delete(retention, "gone")
	mu.Unlock()
	if err := a.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, _, _ := a.List("keep", ServerTime, time.Time{}, clk.Now(), Number{}, 100)
	if len(list) != 3 {
		t.Fatalf("keep has %d fragments after the sweep, want the 3 younger than an hour", len(list))
	}
	if list, _, _ := a.List("live", ServerTime, time.Time{}, clk.Now(), Number{}, 100); len(list) != 0 {
		t.Fatalf("retention 0 kept %d fragments", len(list))
	}
	if _, err := os.Stat(filepath.Join(dir, "streams", "gone")); !os.IsNotExist(err) {
		t.Fatalf("data of a deleted stream survives: %v", err)
	}
	segs, _ := listSegments(filepath.Join(dir, "streams", "keep"))
	if len(segs) > 4 {
		t.Fatalf("segments %v: expired segment files were not deleted", segs)
	}
	segs, _ = listSegments(filepath.Join(dir, "streams", "live"))
	if len(segs) != 0 {
		t.Fatalf("retention 0 keeps segment files %v", segs)
	}
	clk.Add(2 * time.Hour)
	a.Sweep(context.Background())
	if list, _, _ := a.List("keep", ServerTime, time.Time{}, clk.Now(), Number{}, 100); len(list) != 0 {
		t.Fatalf("everything expired, %d left", len(list))
	}
	// Writing after everything expired starts a new segment.
	put(t, a, "keep", clk.Now(), []byte("new"), true)
	if list, _, _ := a.List("keep", ServerTime, time.Time{}, clk.Now(), Number{}, 100); len(list) != 1 {
		t.Fatalf("after expiry and a new write: %d fragments", len(list))
	}
}

func TestDeleteStream(t *testing.T) {
	dir := t.TempDir()
	a := openTest(t, dir, Config{})
	f := put(t, a, "cam", time.Now(), []byte("x"), true)
	got, _ := a.Get("cam", f.Number)
	if err := a.DeleteStream("cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("cam", f.Number); err != ErrNotFound {
		t.Fatalf("Get after delete: %v", err)
	}
	if _, err := a.ReadCluster("cam", got); err != ErrNotFound {
		t.Fatalf("ReadCluster after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "streams", "cam")); !os.IsNotExist(err) {
		t.Fatalf("stream dir survives: %v", err)
	}
	// Recreated under the same name, it starts empty.
	put(t, a, "cam", time.Now(), []byte("y"), true)
	if l, _, _ := a.List("cam", ServerTime, time.Time{}, time.Now().Add(time.Hour), Number{}, 10); len(l) != 1 {
		t.Fatalf("recreated stream has %d fragments", len(l))
	}
}

// TestStreamNames stores, reads back, recovers and deletes streams whose
// names are awkward as directory names: every KVS stream name
// ([a-zA-Z0-9_.-]{1,256}) must be storable, and other names must not
// escape the data dir or collide with the KVS ones.
func TestStreamNames(t *testing.T) {
	long := func(prefix string, c byte) string { return prefix + strings.Repeat(string(c), 256-len(prefix)) }
	names := []string{
		".", "..", "...", ".hidden", "-", "_", "a..b", "a.-_b", "A", "a",
		strings.Repeat("x", 255), // the longest plain directory name
		long("", 'y'),            // 256: one byte too long
		long("", 'z')[:255] + "Z",
		long(".", 'd'), // "%2E" makes it 258 bytes
		strings.Repeat(".", 256),
		strings.Repeat(".", 254),
		// Not KVS names: kept apart from the ones above.
		"%2Efoo", ".foo", "a/b", "../../escape", "caf\u00e9",
	}
	dir := t.TempDir()
	a := openTest(t, dir, Config{})
	for _, name := range names {
		put(t, a, name, time.Now(), []byte(name), true)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "streams"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(names) {
		t.Errorf("%d stream directories for %d streams", len(ents), len(names))
	}
	for _, e := range ents {
		if len(e.Name()) > maxDirName || !e.IsDir() {
			t.Errorf("stream directory %q", e.Name())
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openTest(t, dir, Config{})
	for _, name := range names {
		f, err := b.Latest(name)
		if err != nil || f == nil {
			t.Fatalf("stream %q not recovered: %v", name, err)
		}
		if c, err := b.ReadCluster(name, f); string(c) != name {
			t.Fatalf("stream %q holds %q (%v)", name, c, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Fatal("a stream escaped the data dir")
	}
	for _, name := range names {
		if err := b.DeleteStream(name); err != nil {
			t.Fatalf("DeleteStream(%q): %v", name, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "streams")); len(ents) != 0 {
		t.Fatalf("%d stream directories left after deleting every stream", len(ents))
	}
}

func TestLiveNext(t *testing.T) {
	a := openTest(t, t.TempDir(), Config{LiveFragments: 2})
	f, wait, err := a.Next("cam", Number{})
	if f != nil || wait == nil || err != nil {
		t.Fatalf("Next on an empty stream = %v, %v, %v", f, wait, err)
	}
	p := put(t, a, "cam", time.Now(), []byte("live"), false)
	select {
	case <-wait:
	default:
		t.Fatal("Put did not wake the reader")
	}
	f, _, _ = a.Next("cam", Number{})
	if f == nil || f.Number != p.Number {
		t.Fatalf("Next = %v", f)
	}
	if c, _ := a.ReadCluster("cam", f); string(c) != "live" {
		t.Fatalf("live cluster %q", c)
	}
	// Not durable: nothing listed.
	if l, _, _ := a.List("cam", ServerTime, time.Time{}, time.Now().Add(time.Hour), Number{}, 10); len(l) != 0 {
		t.Fatal("a live-only fragment is listed")
	}
	// The live buffer is bounded.
	put(t, a, "cam", time.Now(), []byte("2"), false)
	put(t, a, "cam", time.Now(), []byte("3"), false)
	if f, _, _ := a.Next("cam", Number{}); f == nil || f.Number == p.Number {
		t.Fatal("the live buffer kept more than LiveFragments")
	}
}

func TestConcurrentGroupCommit(t *testing.T) {
	a := openTest(t, t.TempDir(), Config{})
	var wg sync.WaitGroup
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("s%d", s)
			var waits []<-chan error
			for i := range 20 {
				f := &Fragment{Number: a.NewNumber(), ProducerTime: time.Now(), Header: testHeader}
				done, err := a.Put(name, f, []byte(fmt.Sprintf("%s-%d", name, i)), true)
				if err != nil {
					t.Error(err)
					return
				}
				waits = append(waits, done)
			}
			for _, w := range waits {
				if err := <-w; err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for s := range 8 {
		l, _, _ := a.List(fmt.Sprintf("s%d", s), ServerTime, time.Time{}, time.Now().Add(time.Hour), Number{}, 100)
		if len(l) != 20 {
			t.Fatalf("stream s%d has %d fragments", s, len(l))
		}
	}
}

// TestKill9 runs a writer in a child process, kills it with SIGKILL while it
// writes, and checks that every fragment it reported durable is readable.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("ARCHIVE_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "ARCHIVE_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked []string
	for sc.Scan() && len(acked) < 200 {
		if s, ok := strings.CutPrefix(sc.Text(), "PERSISTED "); ok {
			acked = append(acked, s)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("child reported only %d fragments", len(acked))
	}
	a := openTest(t, dir, Config{})
	for _, s := range acked {
		stream, num, _ := strings.Cut(s, " ")
		n, err := ParseNumber(num)
		if err != nil {
			t.Fatal(err)
		}
		f, err := a.Get(stream, n)
		if err != nil {
			t.Fatalf("acknowledged fragment %s of %s lost: %v", num, stream, err)
		}
		c, err := a.ReadCluster(stream, f)
		if err != nil || string(c[:len(num)]) != num {
			t.Fatalf("fragment %s holds %q, %v", num, c[:min(len(c), 60)], err)
		}
	}
}

func crashChild(dir string) {
	a, err := Open(Config{Dir: dir, SegmentSize: 1 << 20, SweepInterval: -1})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("cam%d", s)
			for {
				n := a.NewNumber()
				payload := append([]byte(n.String()), bytes.Repeat([]byte{'x'}, 20000)...)
				done, err := a.Put(name, &Fragment{Number: n, ProducerTime: time.Now(), Header: testHeader}, payload, true)
				if err != nil {
					return
				}
				if <-done == nil {
					mu.Lock()
					fmt.Printf("PERSISTED %s %s\n", name, n)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}
