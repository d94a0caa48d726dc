package signaling

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// waitStats polls the service's load until ok holds (it changes when a
// closed connection's reader has unregistered it).
func (h *harness) waitStats(ok func(Stats) bool) Stats {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		st := h.svc.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("stats %+v never matched", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMasterReplacement: a second master wins; the first is closed with a
// reason and the viewers' messages reach the new one.
func TestMasterReplacement(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("two-masters", 60)
	m1 := h.dial(arn, "")
	v := h.dial(arn, "v")
	m2 := h.dial(arn, "")
	m1.name, m2.name = "m1", "m2"
	if reason := m1.expectClosed(websocket.StatusNormalClosure); !strings.Contains(reason, "replaced") {
		t.Errorf("close reason %q", reason)
	}
	v.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m2, ActionSDPOffer, "v", offer)
	m2.send(msg(ActionSDPAnswer, "v", answer, ""))
	expectFrom(t, v, ActionSDPAnswer, "", answer)
	if st := h.waitStats(func(s Stats) bool { return s.Masters == 1 }); st.Viewers != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestViewerReplacement: a second connection with a viewer's client id
// replaces the first; the master's messages go to the new one and other
// viewers are untouched.
func TestViewerReplacement(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("same-id", 60)
	m := h.dial(arn, "")
	other := h.dial(arn, "other")
	a := h.dial(arn, "v1")
	b := h.dial(arn, "v1")
	a.name, b.name = "v1-old", "v1-new"
	if reason := a.expectClosed(websocket.StatusNormalClosure); !strings.Contains(reason, "replaced") {
		t.Errorf("close reason %q", reason)
	}
	m.send(msg(ActionSDPAnswer, "v1", answer, ""))
	expectFrom(t, b, ActionSDPAnswer, "", answer)
	b.send(msg(ActionICECandidate, "", cand, ""))
	expectFrom(t, m, ActionICECandidate, "v1", cand)
	other.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "other", offer)
	h.waitStats(func(s Stats) bool { return s.Viewers == 2 })
	other.sync()
}

// TestMaxViewers: the 11th viewer is refused with 400
// ClientLimitExceededException before the upgrade; the ten, the master and
// a reconnecting viewer are unaffected, and a freed slot can be taken.
func TestMaxViewers(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("crowd", 60)
	m := h.dial(arn, "")
	var vs []*client
	for i := range DefaultMaxViewers {
		vs = append(vs, h.dial(arn, fmt.Sprintf("v%d", i)))
	}
	_, res, err := h.tryDial(h.presign(arn, "v10", presignOpts{}))
	if err == nil || res.status != 400 || res.code != string(awsapi.ClientLimitExceeded) || !strings.Contains(res.body, "10 viewers") {
		t.Fatalf("11th viewer: err %v, answer %s", err, res)
	}
	// Reconnecting with a connected id is a replacement, not an 11th.
	again := h.dial(arn, "v3")
	vs[3].expectClosed(websocket.StatusNormalClosure)
	vs[3] = again
	// A second master is a replacement too.
	m2 := h.dial(arn, "")
	m.expectClosed(websocket.StatusNormalClosure)
	for i, v := range vs {
		v.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m2, ActionSDPOffer, fmt.Sprintf("v%d", i), offer)
	}
	// Another channel has its own ten.
	other := h.channel("other", 60)
	h.dial(other, "v10")

	vs[0].conn.Close(websocket.StatusNormalClosure, "bye")
	h.waitStats(func(s Stats) bool { return s.Viewers == DefaultMaxViewers })
	late := h.dial(arn, "v10")
	late.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m2, ActionSDPOffer, "v10", offer)
}

// TestMaxViewersLifted: MaxViewers -1 lets any number join.
func TestMaxViewersLifted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxViewers = -1 })
	arn := h.channel("big", 60)
	m := h.dial(arn, "")
	for i := range DefaultMaxViewers + 3 {
		v := h.dial(arn, fmt.Sprintf("v%d", i))
		v.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m, ActionSDPOffer, v.name, offer)
	}
}

// TestQueue: messages for a recipient that is not connected are kept for
// the channel's MessageTtlSeconds and delivered, in order, when it
// connects; a newer offer replaces one not yet delivered; expired ones are
// dropped.
func TestQueue(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("queue", 30)

	// Viewer → absent master.
	v := h.dial(arn, "v1")
	v.send(msg(ActionSDPOffer, "", b64("offer-1"), "q1"))
	v.send(msg(ActionICECandidate, "", b64("cand-1"), ""))
	v.send(msg(ActionSDPOffer, "", b64("offer-2"), ""))
	v.sync() // queued is success: no STATUS_RESPONSE
	if st := h.svc.Stats(); st.Queued != 2 {
		t.Fatalf("queued %d, want 2 (the second offer replaced the first)", st.Queued)
	}
	// Master → viewer not connected.
	h.clock.Add(10 * time.Second)
	h.svc.sweep()
	m := h.dial(arn, "")
	expectFrom(t, m, ActionSDPOffer, "v1", b64("offer-2"))
	expectFrom(t, m, ActionICECandidate, "v1", b64("cand-1"))
	m.sync()

	m.send(msg(ActionSDPAnswer, "later", b64("answer-later"), "q2"))
	m.send(msg(ActionICECandidate, "later", b64("cand-later"), ""))
	m.send(msg(ActionSDPAnswer, "never", b64("answer-never"), ""))
	m.sync()
	h.clock.Add(29 * time.Second)
	h.svc.sweep()
	later := h.dial(arn, "later")
	expectFrom(t, later, ActionSDPAnswer, "", b64("answer-later"))
	expectFrom(t, later, ActionICECandidate, "", b64("cand-later"))
	later.sync()

	// "never" connects after the TTL: nothing is left for it, by the
	// sweep or, without a sweep, by the check at connect.
	h.clock.Add(time.Second)
	never := h.dial(arn, "never")
	never.sync()
	m.send(msg(ActionSDPAnswer, "gone", b64("x"), ""))
	m.sync()
	h.clock.Add(31 * time.Second)
	h.svc.sweep()
	if st := h.svc.Stats(); st.Queued != 0 {
		t.Fatalf("queued %d after expiry", st.Queued)
	}
	h.dial(arn, "gone").sync()

	// Viewer → master gone again: expired before it returns.
	m.conn.Close(websocket.StatusNormalClosure, "")
	h.waitStats(func(s Stats) bool { return s.Masters == 0 })
	v.send(msg(ActionSDPOffer, "", b64("offer-3"), ""))
	v.sync()
	h.clock.Add(31 * time.Second)
	m2 := h.dial(arn, "")
	m2.sync()
}

// TestChannelDeleted: deleting a channel sends GO_AWAY to each of its
// connections and closes them; other channels carry on and the deleted
// channel refuses new connections.
func TestChannelDeleted(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("doomed", 60)
	keep := h.channel("kept", 60)
	m := h.dial(arn, "")
	v := h.dial(arn, "v")
	km := h.dial(keep, "")
	kv := h.dial(keep, "v")
	v.send(msg(ActionSDPOffer, "", offer, "")) // something in flight
	expectFrom(t, m, ActionSDPOffer, "v", offer)

	ch, err := h.store.GetChannel(context.Background(), "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.DeleteChannel(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	h.svc.ChannelDeleted(context.Background(), ch)
	for _, c := range []*client{m, v} {
		c.expect(TypeGoAway)
		if reason := c.expectClosed(websocket.StatusGoingAway); !strings.Contains(reason, "deleted") {
			t.Errorf("%s: reason %q", c.name, reason)
		}
	}
	_, res, err := h.tryDial(h.presign(arn, "v", presignOpts{}))
	if err == nil || res.status != 404 || res.code != string(awsapi.ResourceNotFound) {
		t.Fatalf("dial deleted channel: %v %s", err, res)
	}
	kv.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, km, ActionSDPOffer, "v", offer)
	km.sync()
	kv.sync()
}

// TestChannelDeleting: a channel in DELETING state refuses connections.
func TestChannelDeleting(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("going", 60)
	if _, err := h.store.UpdateChannel(context.Background(), "going", func(c *catalog.Channel) error {
		c.Status = catalog.StatusDeleting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, res, err := h.tryDial(h.presign(arn, "", presignOpts{})); err == nil || res.status != 404 {
		t.Fatalf("dial: %v %s", err, res)
	}
}

// TestShutdown: Close sends GO_AWAY to everyone, closes them with 1001 and
// refuses new connections.
func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	a := h.channel("a", 60)
	b := h.channel("b", 60)
	cs := []*client{h.dial(a, ""), h.dial(a, "v"), h.dial(b, "")}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := h.svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.expect(TypeGoAway)
		c.expectClosed(websocket.StatusGoingAway)
	}
	if st := h.svc.Stats(); st.Masters+st.Viewers != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if _, res, err := h.tryDial(h.presign(a, "v2", presignOpts{})); err == nil || res.code != string(awsapi.ClientLimitExceeded) {
		t.Fatalf("dial after Close: %v %s", err, res)
	}
}

// TestIdleTimeout: a connection silent for 10 minutes (by the injected
// clock) is closed; one that sent a message or a ping meanwhile is not.
func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("idle", 60)
	m := h.dial(arn, "")
	quiet := h.dial(arn, "quiet")
	pinger := h.dial(arn, "pinger")

	h.clock.Add(9 * time.Minute)
	h.svc.sweep()
	m.sync() // a message counts as activity
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := pinger.conn.Ping(ctx); err != nil { // so does a ping (the C SDK's keep-alive)
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	h.svc.sweep()
	if reason := quiet.expectClosed(websocket.StatusNormalClosure); reason != "idle timeout" {
		t.Errorf("reason %q", reason)
	}
	pinger.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "pinger", offer)

	h.clock.Add(10 * time.Minute)
	h.svc.sweep()
	m.expectClosed(websocket.StatusNormalClosure)
	pinger.expectClosed(websocket.StatusNormalClosure)
}

// TestIdleTimeoutLifted: IdleTimeout -1 keeps silent connections.
func TestIdleTimeoutLifted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout = -1 })
	arn := h.channel("forever", 60)
	m := h.dial(arn, "")
	h.clock.Add(50 * time.Minute)
	h.svc.sweep()
	m.sync()
}

// TestMaxConnectionDuration: GO_AWAY a minute before the hour, the close
// at the hour; the connection still works in between.
func TestMaxConnectionDuration(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout = -1 })
	arn := h.channel("hour", 60)
	m := h.dial(arn, "")
	h.clock.Add(30 * time.Minute)
	v := h.dial(arn, "late")

	h.clock.Add(28 * time.Minute)
	h.svc.sweep()
	m.sync()
	h.clock.Add(time.Minute) // 59 min
	h.svc.sweep()
	m.expect(TypeGoAway)
	v.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "late", offer)
	h.svc.sweep() // GO_AWAY only once
	m.sync()
	h.clock.Add(time.Minute) // 60 min
	h.svc.sweep()
	if reason := m.expectClosed(websocket.StatusGoingAway); !strings.Contains(reason, "maximum") {
		t.Errorf("reason %q", reason)
	}
	v.sync() // 30 minutes old: untouched

	h.clock.Add(29 * time.Minute)
	h.svc.sweep()
	v.expect(TypeGoAway)
	h.clock.Add(time.Minute)
	h.svc.sweep()
	v.expectClosed(websocket.StatusGoingAway)
}

// TestMaxConnectionDurationLifted: MaxConnectionDuration -1 never ends a
// connection.
func TestMaxConnectionDurationLifted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout, c.MaxConnectionDuration = -1, -1 })
	arn := h.channel("days", 60)
	m := h.dial(arn, "")
	h.clock.Add(48 * time.Hour)
	h.svc.sweep()
	m.sync()
}

// TestServerPing: the service pings every PingInterval.
func TestServerPing(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("ping", 60)
	m := h.dial(arn, "")
	m.sync() // the server side is attached once it answered
	h.svc.sweep()
	select {
	case <-m.pings:
		t.Fatal("pinged before the interval")
	default:
	}
	h.clock.Add(DefaultPingInterval)
	h.svc.sweep()
	select {
	case <-m.pings:
	case <-time.After(waitFor):
		t.Fatal("no ping")
	}
	m.sync()
}

// TestReconnectICEServer: ReconnectICEServers tells every connection.
func TestReconnectICEServer(t *testing.T) {
	h := newHarness(t, nil)
	arn := h.channel("ice", 60)
	m := h.dial(arn, "")
	v := h.dial(arn, "v")
	h.svc.ReconnectICEServers()
	m.expect(TypeReconnectICEServer)
	v.expect(TypeReconnectICEServer)
	v.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "v", offer)
}

// TestSlowClient: a viewer that stops reading is disconnected once its
// send queue is full; the master sending to it is never held up, and
// another viewer is served throughout.
func TestSlowClient(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.SDPRate, c.ICERate = -1, -1
		c.MaxQueued, c.SendQueueBytes = 1, 1 // the floor: one frame of MaxFrameBytes
		c.WriteTimeout = 200 * time.Millisecond
	})
	arn := h.channel("slow", 60)
	m := h.dial(arn, "")
	// The slow viewer reads nothing and has a small receive buffer.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	slow, _, err := websocket.Dial(ctx, h.presign(arn, "slow", presignOpts{}), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	fine := h.dial(arn, "fine")
	payload := b64(strings.Repeat("s", 7000))
	gone := false
	// Kernel socket buffers take megabytes before the queue fills.
	for i := 0; i < 5000 && !gone; i++ {
		m.send(msg(ActionICECandidate, "slow", payload, ""))
		if i%50 == 0 {
			// Routing to others goes on meanwhile.
			m.send(msg(ActionICECandidate, "fine", cand, ""))
			expectFrom(t, fine, ActionICECandidate, "", cand)
			gone = h.svc.Stats().Viewers == 1
		}
	}
	m.sync()
	h.waitStats(func(s Stats) bool { return s.Viewers == 1 })
	fine.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "fine", offer)
}
