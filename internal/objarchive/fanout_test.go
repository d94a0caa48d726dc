package objarchive

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/bus/localbus"
)

func TestLiveMessageRoundTrip(t *testing.T) {
	f := archive.Fragment{Number: archive.Number{Millis: 1700000000123, Seq: 65537}, ProducerTime: time.Unix(0, 1700000000123456789).UTC(),
		Timecode: 42, Duration: 2 * time.Second, Frames: 50, Header: archivetest.Header, Tags: []byte("tags")}
	for _, tags := range [][]byte{[]byte("tags"), {}, nil} {
		f.Tags = tags
		in := &liveMsg{origin: 7, stream: "cam.1", f: f, prev: archive.Number{Millis: 1, Seq: 2}, cluster: []byte("cluster bytes")}
		var hc headerCache
		out, err := decodeLive(encodeLive(in), &hc)
		if err != nil {
			t.Fatal(err)
		}
		g := out.f
		if out.origin != 7 || out.stream != "cam.1" || out.prev != in.prev || !bytes.Equal(out.cluster, in.cluster) ||
			g.Number != f.Number || !g.ProducerTime.Equal(f.ProducerTime) || g.Timecode != f.Timecode || g.Duration != f.Duration ||
			g.Frames != f.Frames || g.Size != int64(len(in.cluster)) || (g.Tags == nil) != (tags == nil) || !bytes.Equal(g.Tags, tags) ||
			g.Header.TimecodeScale != f.Header.TimecodeScale || !bytes.Equal(g.Header.Tracks, f.Header.Tracks) {
			t.Fatalf("round trip with tags %q: %+v", tags, out)
		}
	}
}

// FuzzDecodeLive: any bytes from the bus decode to an error or to a
// message that encodes back to the same bytes.
func FuzzDecodeLive(f *testing.F) {
	f.Add(encodeLive(&liveMsg{origin: 1, stream: "s", f: archive.Fragment{Header: archivetest.Header}, cluster: []byte("c")}))
	f.Add(encodeLive(&liveMsg{origin: 2, stream: "cam", f: archive.Fragment{Header: archivetest.Header, Tags: []byte("t"), Duration: time.Second}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var hc headerCache
		m, err := decodeLive(data, &hc)
		if err != nil {
			return
		}
		if got := encodeLive(m); !bytes.Equal(got, data) {
			t.Fatalf("decoded message encodes to other bytes:\n%x\n%x", got, data)
		}
	})
}

// testLiveFanOut: two nodes on one bus. A reader on node b follows a
// producer on node a before the fragments are durable; a fragment b did
// not hear (it was not following yet) holds back the next one until it
// reaches the index.
func testLiveFanOut(t *testing.T, e env) {
	slow := &slowBucket{Bucket: e.bucket, release: make(chan struct{}), puts: make(chan string, 100)}
	e.bucket = slow
	lb := localbus.New(localbus.Config{})
	defer lb.Close()
	clk := archivetest.NewClock()
	// No index polling: what b reads before the release comes over the bus.
	withBus := func(c *Config) { c.Bus = lb; c.PollInterval = time.Hour }
	a := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	b := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	var once sync.Once
	release := func() { once.Do(func() { close(slow.release) }) }
	t.Cleanup(release) // before the archives close: a failed test must not leave an upload held

	put := func(i int) (*archive.Fragment, <-chan error) {
		f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Frames: 1, Header: archivetest.Header}
		done, err := a.Put("cam", f, archivetest.Payload(i, 100), true)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Millisecond)
		return f, done
	}

	f1, done1 := put(1) // b does not follow yet: not heard; its upload is held
	<-slow.puts
	f, wait, err := b.Next("cam", archive.Number{}) // b follows from now on
	if err != nil || f != nil {
		t.Fatalf("Next on b before anything is durable: %v, %v", f, err)
	}
	waitInterest(t, a, b, "cam") // and a publishes to it
	f2, done2 := put(2)          // heard by b, but f1 before it is missing
	select {                     // woken by what it heard
	case <-wait:
	case <-time.After(10 * time.Second):
		t.Fatal("node b's reader was not woken by the fragment node a received")
	}
	if f, _, err = b.Next("cam", archive.Number{}); err != nil || f != nil {
		t.Fatalf("Next on b returned %v (err %v) although f1 before it was neither heard nor durable", f, err)
	}
	release()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	got, _, err := b.Next("cam", archive.Number{})
	if err != nil || got == nil || got.Number != f1.Number {
		t.Fatalf("first fragment on b once f1 is durable: %v, %v; want %s", got, err, f1.Number)
	}
	// f2 comes from the bus, durable or not.
	got, _, err = b.Next("cam", got.Number)
	if err != nil || got == nil || got.Number != f2.Number {
		t.Fatalf("second fragment on b: %v, %v; want %s", got, err, f2.Number)
	}
	data, err := b.ReadCluster("cam", got)
	if err != nil || !bytes.Equal(data, archivetest.Payload(2, 100)) {
		t.Fatalf("ReadCluster on b: %d bytes, %v", len(data), err)
	}
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
}
