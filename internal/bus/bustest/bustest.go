// Package bustest is the conformance suite every bus.Bus passes: Run it
// from the implementation's tests.
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
)

// waitFor bounds every wait for a message.
const waitFor = 5 * time.Second

// Factory returns two handles on one bus, as two nodes hold them: the same
// value twice for an in-process bus, two connections to one server for a
// networked one. Run closes them.
type Factory func(t *testing.T) (a, b bus.Bus)

// Run runs the conformance suite against the buses newBus makes.
func Run(t *testing.T, newBus Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b bus.Bus)
	}{
		{"Delivery", testDelivery},
		{"OrderPerSubject", testOrder},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"Unsubscribe", testUnsubscribe},
		{"UnsubscribeInHandler", testUnsubscribeInHandler},
		{"RequestReply", testRequestReply},
		{"LargePayload", testLargePayload},
		{"SlowSubscriber", testSlowSubscriber},
		{"BadSubject", testBadSubject},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newBus(t)
			t.Cleanup(func() {
				a.Close()
				b.Close()
			})
			tc.fn(t, a, b)
		})
	}
}

// collector records what a subscription receives.
type collector struct {
	mu   sync.Mutex
	msgs []*bus.Msg
	got  chan struct{} // a token per message
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1<<16)} }

func (c *collector) handle(m *bus.Msg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.got <- struct{}{}
}

// wait waits for n more messages.
func (c *collector) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(waitFor)
	for range n {
		select {
		case <-c.got:
		case <-timeout:
			t.Fatalf("%d messages, want %d more within %s", c.count(), n, waitFor)
		}
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) all() []*bus.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*bus.Msg(nil), c.msgs...)
}

func subscribe(t *testing.T, b bus.Bus, subject string, h bus.Handler, opts bus.SubscribeOptions) bus.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), subject, h, opts)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	return s
}

func publish(t *testing.T, b bus.Bus, subject string, data []byte) {
	t.Helper()
	if err := b.Publish(context.Background(), subject, data); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

// barrier proves that everything a published to subjects b subscribes to
// before the call has reached b's subscriptions: it publishes a marker on
// a subject b subscribes to through the same handle and waits for it (one
// publisher's messages arrive in order).
func barrier(t *testing.T, a, b bus.Bus) {
	t.Helper()
	subject := "bustest.barrier." + strconv.FormatInt(time.Now().UnixNano(), 36)
	c := newCollector()
	s := subscribe(t, b, subject, c.handle, bus.SubscribeOptions{})
	defer s.Unsubscribe()
	publish(t, a, subject, []byte("x"))
	c.wait(t, 1)
}

func testDelivery(t *testing.T, a, b bus.Bus) {
	c1, c2, other := newCollector(), newCollector(), newCollector()
	subscribe(t, b, "bustest.delivery", c1.handle, bus.SubscribeOptions{})
	subscribe(t, a, "bustest.delivery", c2.handle, bus.SubscribeOptions{})
	subscribe(t, b, "bustest.delivery.other", other.handle, bus.SubscribeOptions{})
	publish(t, a, "bustest.delivery", []byte("hello"))
	publish(t, a, "bustest.delivery", nil)
	c1.wait(t, 2)
	c2.wait(t, 2)
	for _, c := range []*collector{c1, c2} {
		got := c.all()
		if got[0].Subject != "bustest.delivery" || string(got[0].Data) != "hello" || got[0].Reply != "" {
			t.Errorf("first message %+v, want hello on bustest.delivery", got[0])
		}
		if len(got[1].Data) != 0 {
			t.Errorf("empty message arrived as %q", got[1].Data)
		}
	}
	barrier(t, a, b)
	if n := other.count(); n != 0 {
		t.Errorf("a subscription of another subject got %d messages", n)
	}
}

func testOrder(t *testing.T, a, b bus.Bus) {
	const n = 2000
	c := newCollector()
	subscribe(t, b, "bustest.order", c.handle, bus.SubscribeOptions{})
	for i := range n {
		publish(t, a, "bustest.order", []byte(strconv.Itoa(i)))
	}
	c.wait(t, n)
	for i, m := range c.all() {
		if string(m.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d is %q: out of order", i, m.Data)
		}
	}
}

func testConcurrentPublishers(t *testing.T, a, b bus.Bus) {
	const pubs, each = 4, 250
	c := newCollector()
	subscribe(t, b, "bustest.concurrent", c.handle, bus.SubscribeOptions{})
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Go(func() {
			src := a
			if p%2 == 1 {
				src = b
			}
			for i := range each {
				if err := src.Publish(context.Background(), "bustest.concurrent", fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.wait(t, pubs*each)
	// Each publisher's messages arrive in its order.
	next := make(map[string]int)
	for _, m := range c.all() {
		p, i, _ := bytes.Cut(m.Data, []byte(":"))
		if want := next[string(p)]; string(i) != strconv.Itoa(want) {
			t.Fatalf("publisher %s: got %s, want %d", p, i, want)
		}
		next[string(p)]++
	}
}

func testUnsubscribe(t *testing.T, a, b bus.Bus) {
	c := newCollector()
	s := subscribe(t, b, "bustest.unsub", c.handle, bus.SubscribeOptions{})
	publish(t, a, "bustest.unsub", []byte("1"))
	c.wait(t, 1)
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(); err != nil && !errors.Is(err, bus.ErrClosed) {
		t.Errorf("second Unsubscribe: %v", err)
	}
	publish(t, a, "bustest.unsub", []byte("2"))
	barrier(t, a, b)
	if n := c.count(); n != 1 {
		t.Errorf("%d messages after Unsubscribe, want 1", n)
	}
}

func testUnsubscribeInHandler(t *testing.T, a, b bus.Bus) {
	var calls atomic.Int32
	var s bus.Subscription
	ready := make(chan struct{})
	done := make(chan struct{}, 10)
	s = subscribe(t, b, "bustest.unsub.self", func(*bus.Msg) {
		<-ready
		calls.Add(1)
		_ = s.Unsubscribe()
		done <- struct{}{}
	}, bus.SubscribeOptions{})
	close(ready)
	for range 5 {
		publish(t, a, "bustest.unsub.self", []byte("x"))
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}
	barrier(t, a, b)
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times after unsubscribing itself, want 1", n)
	}
}

func testRequestReply(t *testing.T, a, b bus.Bus) {
	subscribe(t, b, "bustest.echo", func(m *bus.Msg) {
		if m.Reply == "" {
			return
		}
		_ = b.Publish(context.Background(), m.Reply, append([]byte("re:"), m.Data...))
	}, bus.SubscribeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for i := range 20 {
		want := "re:" + strconv.Itoa(i)
		got, err := a.Request(ctx, "bustest.echo", []byte(strconv.Itoa(i)))
		if err != nil || string(got) != want {
			t.Fatalf("request %d: %q, %v; want %q", i, got, err, want)
		}
	}

	if _, err := a.Request(ctx, "bustest.nobody", []byte("x")); !errors.Is(err, bus.ErrNoResponders) {
		t.Errorf("request to nobody: %v, want ErrNoResponders", err)
	}

	subscribe(t, b, "bustest.silent", func(*bus.Msg) {}, bus.SubscribeOptions{})
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := a.Request(short, "bustest.silent", []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered request: %v, want context.DeadlineExceeded", err)
	}
}

func testLargePayload(t *testing.T, a, b bus.Bus) {
	size := min(4<<20, a.MaxPayload())
	if size < 1<<20 {
		t.Fatalf("MaxPayload %d: live fragments need at least 1 MiB", size)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	c := newCollector()
	subscribe(t, b, "bustest.large", c.handle, bus.SubscribeOptions{})
	publish(t, a, "bustest.large", data)
	c.wait(t, 1)
	if !bytes.Equal(c.all()[0].Data, data) {
		t.Error("large payload changed on its way")
	}
	err := a.Publish(context.Background(), "bustest.large", make([]byte, a.MaxPayload()+1))
	if !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("payload over MaxPayload: %v, want ErrTooLarge", err)
	}
}

// testSlowSubscriber checks the documented bound: a handler that does not
// return makes the bus drop what exceeds the pending limit, and the
// publisher never waits for it.
func testSlowSubscriber(t *testing.T, a, b bus.Bus) {
	const limit, n = 10, 500
	block := make(chan struct{})
	handled := make(chan struct{}, n)
	s := subscribe(t, b, "bustest.slow", func(*bus.Msg) {
		<-block
		handled <- struct{}{}
	}, bus.SubscribeOptions{PendingMsgs: limit})
	fast := newCollector()
	subscribe(t, b, "bustest.slow", fast.handle, bus.SubscribeOptions{})
	for i := range n {
		publish(t, a, "bustest.slow", []byte(strconv.Itoa(i))) // never blocks
	}
	fast.wait(t, n) // a fast subscriber of the same subject is not held up
	barrier(t, a, b)
	dropped := s.Dropped()
	if dropped < n-limit-1 {
		t.Errorf("Dropped() = %d, want at least %d", dropped, n-limit-1)
	}
	close(block)
	// Everything not dropped reaches the handler.
	deadline := time.After(waitFor)
	for i := range n - dropped {
		select {
		case <-handled:
		case <-deadline:
			t.Fatalf("handled %d + dropped %d, want %d", i, dropped, n)
		}
	}
	barrier(t, a, b)
	if extra := len(handled); extra != 0 {
		t.Errorf("%d messages handled beyond the %d not dropped", extra, n-dropped)
	}
	if fast.count() != n {
		t.Errorf("fast subscriber got %d, want %d", fast.count(), n)
	}
}

func testBadSubject(t *testing.T, a, _ bus.Bus) {
	for _, s := range []string{"", ".", "a..b", "a.", ".a", "a.*", "a.>", "a b", "a\tb", "ü"} {
		if err := a.Publish(context.Background(), s, nil); !errors.Is(err, bus.ErrBadSubject) {
			t.Errorf("Publish(%q): %v, want ErrBadSubject", s, err)
		}
		if _, err := a.Subscribe(context.Background(), s, func(*bus.Msg) {}, bus.SubscribeOptions{}); !errors.Is(err, bus.ErrBadSubject) {
			t.Errorf("Subscribe(%q): %v, want ErrBadSubject", s, err)
		}
	}
	tok := "bustest.token." + bus.Token("my.stream:1/x y")
	c := newCollector()
	subscribe(t, a, tok, c.handle, bus.SubscribeOptions{})
	publish(t, a, tok, []byte("ok"))
	c.wait(t, 1)
}

func testClose(t *testing.T, a, b bus.Bus) {
	c := newCollector()
	subscribe(t, b, "bustest.close", c.handle, bus.SubscribeOptions{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Publish(context.Background(), "bustest.close", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(context.Background(), "bustest.close", c.handle, bus.SubscribeOptions{}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Request(context.Background(), "bustest.close", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Request after Close: %v, want ErrClosed", err)
	}
	if a == b {
		return // one handle: nothing left to publish with
	}
	// The closed handle's subscriptions get nothing more.
	probe := newCollector()
	subscribe(t, a, "bustest.close", probe.handle, bus.SubscribeOptions{})
	publish(t, a, "bustest.close", []byte("after"))
	probe.wait(t, 1)
	if n := c.count(); n != 0 {
		t.Errorf("a closed bus's subscription got %d messages", n)
	}
}
