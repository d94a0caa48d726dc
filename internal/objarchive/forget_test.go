package objarchive

import (
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/archive/archivetest"
	"github.com/openkvs/openkvs/internal/bus/localbus"
)

// testForgetStream: node b deletes a stream while node a is uploading one
// of its fragments and node c holds one it heard on the bus. a's and c's
// ForgetStream (what the server calls when it hears of the deletion) end
// their readers, drop what they heard, and leave no fragment indexed.
func testForgetStream(t *testing.T, e env) {
	slow := &slowBucket{Bucket: e.bucket, release: make(chan struct{}), puts: make(chan string, 10)}
	store := e.bucket
	lb := localbus.New(localbus.Config{})
	defer lb.Close()
	clk := archivetest.NewClock()
	withBus := func(c *Config) { c.Bus = lb; c.PollInterval = time.Hour }
	b := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	c := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	e.bucket = slow
	a := e.open(t, archivetest.Options{Now: clk.Now}, withBus)
	released := false
	release := func() {
		if !released {
			released = true
			close(slow.release)
		}
	}
	t.Cleanup(release)

	waitInterest(t, a, c, "cam") // c follows the stream: a publishes to it
	_, heard, err := c.Next("cam", archive.Number{})
	if err != nil {
		t.Fatal(err)
	}
	f := &archive.Fragment{Number: a.NewNumber(), ProducerTime: clk.Now(), Duration: time.Second, Header: archivetest.Header}
	done, err := a.Put("cam", f, []byte("cluster"), true)
	if err != nil {
		t.Fatal(err)
	}
	<-slow.puts // a's upload is under way
	<-heard
	if l, err := c.Latest("cam"); err != nil || l == nil || l.Number != f.Number {
		t.Fatalf("node c before the deletion: latest %v, %v; want the fragment it heard", l, err)
	}
	_, woken, err := a.Next("cam", f.Number)
	if err != nil || woken == nil {
		t.Fatalf("Next on a after its only fragment: %v", err)
	}
	if err := b.DeleteStream("cam"); err != nil {
		t.Fatal(err)
	}
	forgotten := make(chan error, 1)
	go func() { forgotten <- a.ForgetStream("cam") }()
	<-woken   // a's reader is told
	release() // a's upload indexes its fragment after b's deletion
	if err := <-forgotten; err != nil {
		t.Fatal(err)
	}
	<-done
	if err := c.ForgetStream("cam"); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Latest("cam"); err != nil || l != nil {
		t.Fatalf("node c after the deletion: latest %v, %v", l, err)
	}
	for name, n := range map[string]*Archive{"a": a, "b": b, "c": c} {
		if list, _, err := n.List("cam", archive.ServerTime, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour), archive.Number{}, 10); err != nil || len(list) != 0 {
			t.Fatalf("node %s after the deletion: %d fragments indexed, %v", name, len(list), err)
		}
	}
	if left, err := store.List(t.Context(), ""); err != nil || len(left) != 0 {
		t.Fatalf("after the deletion: objects %v, %v", left, err)
	}
}
