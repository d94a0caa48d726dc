package objarchive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/blob"
	"github.com/openkvs/openkvs/internal/blob/fsblob"
	"github.com/openkvs/openkvs/internal/blob/s3blob"
	"github.com/openkvs/openkvs/internal/pgmigrate"
	"github.com/openkvs/openkvs/internal/testinfra/pgtest"
	"github.com/openkvs/openkvs/internal/testinfra/s3test"
)

// env is one PostgreSQL schema and one bucket that the nodes of a test
// share.
type env struct {
	url, schema string
	bucket      blob.Bucket
}

func (e env) open(t *testing.T, o archivetest.Options, edit ...func(*Config)) *Archive {
	t.Helper()
	cfg := Config{URL: e.url, Schema: e.schema, Bucket: e.bucket, Now: o.Now, Retention: o.Retention,
		SweepInterval: -1, PollInterval: 10 * time.Millisecond}
	for _, f := range edit {
		f(&cfg)
	}
	a, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestOnPostgres(t *testing.T) {
	url := pgtest.Start(t)
	fsEnv := func(t *testing.T) env {
		b, err := fsblob.New(fsblob.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return env{url: url, schema: pgtest.NewSchema(t, url), bucket: b}
	}
	t.Run("BehaviourOnFiles", func(t *testing.T) {
		archivetest.Run(t, func(t *testing.T, o archivetest.Options) archivetest.Archive { return fsEnv(t).open(t, o) })
	})
	t.Run("BehaviourOnSeaweedFS", func(t *testing.T) {
		srv := s3test.Start(t)
		archivetest.Run(t, func(t *testing.T, o archivetest.Options) archivetest.Archive {
			b, err := s3blob.New(t.Context(), s3blob.Config{Bucket: srv.NewBucket(t), Endpoint: srv.Endpoint,
				Region: srv.Region, AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey})
			if err != nil {
				t.Fatal(err)
			}
			return env{url: url, schema: pgtest.NewSchema(t, url), bucket: b}.open(t, o)
		})
	})
	t.Run("TwoNodes", func(t *testing.T) { testTwoNodes(t, fsEnv(t)) })
	t.Run("NumbersAcrossRestart", func(t *testing.T) { testRestart(t, fsEnv(t)) })
	t.Run("NumberBehindIsRefused", func(t *testing.T) { testBehind(t, fsEnv(t)) })
	t.Run("Batching", func(t *testing.T) { testBatching(t, fsEnv(t)) })
	t.Run("PersistedOnlyAfterObjectStore", func(t *testing.T) { testStoreFailure(t, fsEnv(t)) })
	t.Run("DeleteDuringUpload", func(t *testing.T) { testDeleteDuringUpload(t, fsEnv(t)) })
	t.Run("LiveFanOut", func(t *testing.T) { testLiveFanOut(t, fsEnv(t)) })
	t.Run("PublishOnlyWhenFollowed", func(t *testing.T) { testPublishOnlyWhenFollowed(t, fsEnv(t)) })
	t.Run("InterestProbe", func(t *testing.T) { testProbe(t, fsEnv(t)) })
	t.Run("ForgetStream", func(t *testing.T) { testForgetStream(t, fsEnv(t)) })
	t.Run("UpgradeFromFirstLayout", func(t *testing.T) { testUpgrade(t, fsEnv(t)) })
	t.Run("NumbersNotReusedAfterDelete", func(t *testing.T) { testNotReused(t, fsEnv(t)) })
}

// testTwoNodes: what node a persists, node b lists, reads and follows.
func testTwoNodes(t *testing.T, e env) {
	clk := archivetest.NewClock()
	a, b := e.open(t, archivetest.Options{Now: clk.Now}), e.open(t, archivetest.Options{Now: clk.Now})
	if a.numbers.node == b.numbers.node {
		t.Fatalf("both nodes have id %d", a.numbers.node)
	}
	// Same clock, same millisecond: the numbers still differ.
	if na, nb := a.NewNumber(), b.NewNumber(); na == nb {
		t.Fatalf("two nodes handed out the same number %s", na)
	}
	f, wait, err := b.Next("cam", archive.Number{})
	if err != nil || f != nil {
		t.Fatalf("Next on b before any fragment: %v %v", f, err)
	}
	put := archivetest.Put(t, a, "cam", clk.Now(), archivetest.Payload(1, 3000), true)
	// b's reader wakes by polling the index.
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		t.Fatal("node b's reader did not wake")
	}
	got, _, err := b.Next("cam", archive.Number{})
	if err != nil {
		t.Fatal(err)
	}
	archivetest.CheckSame(t, got, put)
	data, err := b.ReadCluster("cam", got)
	if err != nil || !bytes.Equal(data, archivetest.Payload(1, 3000)) {
		t.Fatalf("node b reads %d bytes, %v", len(data), err)
	}
	list, _, err := b.List("cam", archive.ProducerTime, clk.Now().Add(-time.Minute), clk.Now().Add(time.Minute), archive.Number{}, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("List on node b: %d, %v", len(list), err)
	}
	// The producer moves to node b: its numbers continue above a's.
	clk.Add(time.Millisecond)
	moved := archivetest.Put(t, b, "cam", clk.Now(), archivetest.Payload(2, 100), true)
	if !put.Number.Less(moved.Number) {
		t.Fatalf("number on node b %s not above node a's %s", moved.Number, put.Number)
	}
	if err := b.DeleteStream("cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("cam", put.Number); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("node a after node b deleted the stream: %v", err)
	}
}

// testRestart: a node restarting with its clock behind keeps numbering
// above what is indexed.
func testRestart(t *testing.T, e env) {
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now})
	last := archivetest.Put(t, a, "cam", clk.Now(), archivetest.Payload(1, 10), true)
	a.Close()
	clk.Add(-time.Hour)
	b := e.open(t, archivetest.Options{Now: clk.Now})
	if n := b.NewNumber(); !last.Number.Less(n) {
		t.Fatalf("after restart with the clock an hour back: %s not above %s", n, last.Number)
	}
}

// testBehind: a node whose clock is behind the node that had the stream
// before gets its first fragment refused, then numbers in order.
func testBehind(t *testing.T, e env) {
	ahead, behind := archivetest.NewClock(), archivetest.NewClock()
	behind.Add(-time.Minute)
	a := e.open(t, archivetest.Options{Now: ahead.Now})
	b := e.open(t, archivetest.Options{Now: behind.Now})
	first := archivetest.Put(t, a, "cam", ahead.Now(), archivetest.Payload(1, 10), true)
	f := &archive.Fragment{Number: b.NewNumber(), ProducerTime: ahead.Now(), Duration: time.Second, Header: archivetest.Header}
	done, err := b.Put("cam", f, archivetest.Payload(2, 10), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrNumberBehind) {
		t.Fatalf("fragment numbered below the stream's last: %v, want ErrNumberBehind", err)
	}
	if n := b.NewNumber(); !first.Number.Less(n) {
		t.Fatalf("after the refusal node b numbers %s, not above %s", n, first.Number)
	}
	resent := archivetest.Put(t, b, "cam", ahead.Now(), archivetest.Payload(2, 10), true)
	list, _, err := a.List("cam", archive.ProducerTime, ahead.Now().Add(-time.Hour), ahead.Now().Add(time.Hour), archive.Number{}, 10)
	if err != nil || len(list) != 2 || list[1].Number != resent.Number {
		t.Fatalf("index after the resend: %d fragments, %v", len(list), err)
	}
}

// slowBucket holds every Put until release is closed, so that fragments
// queue up behind the first upload.
type slowBucket struct {
	blob.Bucket
	release chan struct{}
	puts    chan string
}

func (s *slowBucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	s.puts <- key
	<-s.release
	return s.Bucket.Put(ctx, key, r, size)
}

// testBatching: fragments arriving during an upload are written together
// as one object, and each reads back whole.
func testBatching(t *testing.T, e env) {
	slow := &slowBucket{Bucket: e.bucket, release: make(chan struct{}), puts: make(chan string, 100)}
	e.bucket = slow
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now})
	var dones []<-chan error
	var frags []*archive.Fragment
	for i := range 6 {
		f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Header: archivetest.Header}
		done, err := a.Put("cam", f, archivetest.Payload(i, 1000+i), true)
		if err != nil {
			t.Fatal(err)
		}
		frags, dones = append(frags, f), append(dones, done)
		if i == 0 {
			<-slow.puts // the first upload is under way
		}
	}
	close(slow.release)
	for _, d := range dones {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if n := 1 + len(slow.puts); n != 2 {
		t.Fatalf("%d objects written for 6 fragments, want 2 (one, then a batch of five)", n)
	}
	for i, f := range frags {
		got, err := a.Get("cam", f.Number)
		if err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		delete(a.streams, "cam") // read from the object store, not the live buffer
		a.mu.Unlock()
		data, err := a.ReadCluster("cam", got)
		if err != nil || !bytes.Equal(data, archivetest.Payload(i, 1000+i)) {
			t.Fatalf("fragment %d of the batch: %d bytes, %v", i, len(data), err)
		}
	}
}

// failingBucket refuses every Put.
type failingBucket struct{ blob.Bucket }

func (failingBucket) Put(context.Context, string, io.Reader, int64) error {
	return errors.New("store unavailable")
}

// testStoreFailure: when the object store refuses the write, the fragment
// is not acknowledged as durable and is not indexed.
func testStoreFailure(t *testing.T, e env) {
	e.bucket = failingBucket{e.bucket}
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now})
	f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Header: archivetest.Header}
	done, err := a.Put("cam", f, []byte("cluster"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("fragment acknowledged although the object store refused it")
	}
	if list, _, err := a.List("cam", archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 10); err != nil || len(list) != 0 {
		t.Fatalf("a fragment the store refused is indexed: %d, %v", len(list), err)
	}
}

// TestTrim checks the bounds of the live buffer: durable entries go first
// and beyond KeepDurable, entries being uploaded stay, and so does the
// newest live-only one.
func TestTrim(t *testing.T) {
	mk := func(states string) *stream {
		st := &stream{}
		for i, c := range states {
			l := &live{f: &archive.Fragment{Number: archive.Number{Millis: uint64(i + 1)}}, cluster: make([]byte, 10)}
			switch c {
			case 'd':
				l.durable = true
			case 'p':
				l.pending = true
			}
			st.ring = append(st.ring, l)
		}
		return st
	}
	states := func(st *stream) string {
		var b []byte
		for _, l := range st.ring {
			switch {
			case l.durable:
				b = append(b, 'd')
			case l.pending:
				b = append(b, 'p')
			default:
				b = append(b, 'l')
			}
		}
		return string(b)
	}
	tests := []struct {
		in, want string
		cfg      Config
	}{
		{"dddpp", "ddpp", Config{LiveFragments: 16, LiveBytes: 1000, KeepDurable: 2}},
		{"dddpp", "pp", Config{LiveFragments: 16, LiveBytes: 1000}},
		{"lllll", "lll", Config{LiveFragments: 3, LiveBytes: 1000, KeepDurable: 2}},
		{"ppppp", "ppppp", Config{LiveFragments: 2, LiveBytes: 10, KeepDurable: 2}},
		{"ldlpl", "lpl", Config{LiveFragments: 3, LiveBytes: 1000, KeepDurable: 2}},
		{"ld", "l", Config{LiveFragments: 1, LiveBytes: 1000, KeepDurable: 2}},
		{"d", "", Config{LiveFragments: 16, LiveBytes: 1000}},
		{"pd", "p", Config{LiveFragments: 16, LiveBytes: 1000}},
		{"l", "l", Config{LiveFragments: 1, LiveBytes: 5}},
		{"lll", "l", Config{LiveFragments: 16, LiveBytes: 15, KeepDurable: 2}},
	}
	for _, tc := range tests {
		st := mk(tc.in)
		st.trim(tc.cfg)
		if got := states(st); got != tc.want {
			t.Errorf("trim(%s, %+v) = %s, want %s", tc.in, tc.cfg, got, tc.want)
		}
	}
}

// testDeleteDuringUpload: a stream deleted while one of its fragments is
// being uploaded keeps nothing: neither the fragment's row nor an object.
func testDeleteDuringUpload(t *testing.T, e env) {
	slow := &slowBucket{Bucket: e.bucket, release: make(chan struct{}), puts: make(chan string, 10)}
	store := e.bucket
	e.bucket = slow
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now}, func(c *Config) { c.PollInterval = time.Hour })
	f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Header: archivetest.Header}
	done, err := a.Put("cam", f, []byte("cluster"), true)
	if err != nil {
		t.Fatal(err)
	}
	<-slow.puts                             // the upload is under way
	_, gone, err := a.Next("cam", f.Number) // closed when the deletion marks the stream gone
	if err != nil || gone == nil {
		t.Fatalf("Next after the only fragment: %v", err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- a.DeleteStream("cam") }()
	<-gone
	close(slow.release) // the upload ends after the deletion began
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	<-done
	if list, _, err := a.List("cam", archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 10); err != nil || len(list) != 0 {
		t.Fatalf("after DeleteStream during an upload: %d fragments indexed, %v", len(list), err)
	}
	if left, err := store.List(t.Context(), ""); err != nil || len(left) != 0 {
		t.Fatalf("after DeleteStream during an upload: objects %v, %v", left, err)
	}
}

// testUpgrade: an index laid out by the first step (fragments without
// heads) is upgraded on Open; the stream's head then comes from its
// fragments, so a fragment numbered below them is refused.
func testUpgrade(t *testing.T, e env) {
	pool, err := pgxpool.New(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := func(name string) string { return pgx.Identifier{e.schema, name}.Sanitize() }
	if _, err := pgmigrate.Apply(t.Context(), pool, pgmigrate.Plan{Meta: q("catalog_meta"), Key: "fragments_version",
		Lock: migrateLock, Steps: steps(q)[:1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `INSERT INTO `+q("fragments")+` (stream, millis, seq, producer_ns, timecode, duration_ns,
		size, frames, timecode_scale, tracks, tags, object, off, object_end) VALUES ('cam', 5000, 7, 0, 0, 0, 1, 1, 1000000, '', NULL, 's_cam/x', 0, 5000)`); err != nil {
		t.Fatal(err)
	}
	clk := archivetest.NewClock()
	a := e.open(t, archivetest.Options{Now: clk.Now})
	f, err := a.Get("cam", archive.Number{Millis: 5000, Seq: 7})
	if err != nil {
		t.Fatalf("fragment of the first layout after the upgrade: %v", err)
	}
	if f.Header.TimecodeScale != 1000000 {
		t.Fatalf("fragment after the upgrade: %+v", f)
	}
	behind := &archive.Fragment{Number: archive.Number{Millis: 4000}, Duration: time.Second, Header: archivetest.Header}
	done, err := a.Put("cam", behind, []byte("x"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrNumberBehind) {
		t.Fatalf("fragment below the upgraded stream's newest: %v, want ErrNumberBehind", err)
	}
}

// testNotReused: after a stream is deleted, a node starting with its clock
// behind still numbers above the deleted fragments (its numbering starts
// above the newest head, which deletion keeps).
func testNotReused(t *testing.T, e env) {
	ahead, behind := archivetest.NewClock(), archivetest.NewClock()
	behind.Add(-time.Minute)
	a := e.open(t, archivetest.Options{Now: ahead.Now})
	old := archivetest.Put(t, a, "cam", ahead.Now(), archivetest.Payload(1, 10), true)
	if err := a.DeleteStream("cam"); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, archivetest.Options{Now: behind.Now})
	f := archivetest.Put(t, b, "cam", behind.Now(), archivetest.Payload(2, 10), true)
	if !old.Number.Less(f.Number) {
		t.Fatalf("number %s after the deletion is not above the deleted %s", f.Number, old.Number)
	}
}
