package signaling

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/localbus"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/catalog/boltstore"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
)

// busKinds make the buses of n nodes: one shared in-process bus, or one
// NATS connection per node to a real NATS server started for the test.
var busKinds = []struct {
	name string
	new  func(t *testing.T, n int) []bus.Bus
}{
	{"localbus", func(t *testing.T, n int) []bus.Bus {
		b := localbus.New(localbus.Config{})
		t.Cleanup(func() { b.Close() })
		out := make([]bus.Bus, n)
		for i := range out {
			out[i] = b
		}
		return out
	}},
	{"natsbus", func(t *testing.T, n int) []bus.Bus {
		srv := natstest.Start(t, natstest.Options{})
		out := make([]bus.Bus, n)
		for i := range out {
			b, err := natsbus.New(natsbus.Config{URL: srv.URL(), Name: fmt.Sprint("node-", i)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			out[i] = b
		}
		return out
	}},
}

// testCluster is n signaling Services, each behind its own HTTP server on
// loopback, sharing one catalog, one clock and one bus.
type testCluster struct {
	t     *testing.T
	nodes []*harness
	buses []bus.Bus
	clock *fakeClock
	store *boltstore.Store
}

func newCluster(t *testing.T, n int, newBus func(*testing.T, int) []bus.Bus, edit func(*Config)) *testCluster {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	store, err := boltstore.Open(boltstore.Config{Path: filepath.Join(t.TempDir(), "catalog.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	buses := newBus(t, n)
	c := &testCluster{t: t, clock: clk, store: store, buses: buses}
	for i := range n {
		c.nodes = append(c.nodes, newHarnessOn(t, store, clk, func(cfg *Config) {
			cfg.Bus = buses[i]
			cfg.NodeID = fmt.Sprint("node", i)
			// The tests move the fake clock far: nodes stay alive.
			cfg.PeerTimeout = 1000 * time.Hour
			if edit != nil {
				edit(cfg)
			}
		}))
	}
	for _, h := range c.nodes {
		waitNodes(t, h.svc, n)
	}
	return c
}

// waitNodes waits until svc knows n nodes.
func waitNodes(t *testing.T, svc *Service, n int) {
	t.Helper()
	timeout := time.After(waitFor)
	for len(*svc.cluster.nodes.Load()) != n {
		select {
		case <-svc.cluster.changed:
		case <-timeout:
			t.Fatalf("node %s knows %v, want %d nodes", svc.cluster.self, *svc.cluster.nodes.Load(), n)
		}
	}
}

// channelOwnedBy creates a channel whose owner is node i and returns its
// ARN.
func (c *testCluster) channelOwnedBy(prefix string, i, ttlSeconds int) string {
	c.t.Helper()
	for k := 0; ; k++ {
		name := fmt.Sprintf("%s-%d", prefix, k)
		arn := awsapi.NewARN(testRegion, testAcct, "channel", name, c.clock.Now())
		if c.nodes[0].svc.cluster.owner(arn) == c.nodes[i].svc.cluster.self {
			return c.nodes[i].channel(name, ttlSeconds) // the same ARN
		}
	}
}

// forEachLayout runs fn for each bus kind and each owner position among
// three nodes: master on node 0, viewers on node 1, and the channel owned
// by the master's node, the viewers' node or the third one.
func forEachLayout(t *testing.T, edit func(*Config), fn func(t *testing.T, c *testCluster, arn string)) {
	for _, bk := range busKinds {
		for _, owner := range []int{0, 1, 2} {
			t.Run(fmt.Sprintf("%s/owner%d", bk.name, owner), func(t *testing.T) {
				c := newCluster(t, 3, bk.new, edit)
				fn(t, c, c.channelOwnedBy("chan", owner, 60))
			})
		}
	}
}

// TestClusterOfferAnswerICE: a master on node 0 and viewers on nodes 1
// and 0 exchange offers, answers and candidates as on one node.
func TestClusterOfferAnswerICE(t *testing.T) {
	forEachLayout(t, nil, func(t *testing.T, c *testCluster, arn string) {
		m := c.nodes[0].dial(arn, "")
		v1 := c.nodes[1].dial(arn, "viewer-1")
		v2 := c.nodes[0].dial(arn, "viewer-2")
		for round := range 2 { // within the 5 SDP/s of a connection
			v1.send(msg(ActionSDPOffer, "", offer, ""))
			expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
			v1.send(msg(ActionICECandidate, "", cand, ""))
			expectFrom(t, m, ActionICECandidate, "viewer-1", cand)
			m.send(msg(ActionSDPAnswer, "viewer-1", answer, ""))
			expectFrom(t, v1, ActionSDPAnswer, "", answer)
			m.send(msg(ActionICECandidate, "viewer-1", cand, ""))
			expectFrom(t, v1, ActionICECandidate, "", cand)
			v2.send(msg(ActionSDPOffer, "", offer, ""))
			expectFrom(t, m, ActionSDPOffer, "viewer-2", offer)
			m.send(msg(ActionSDPAnswer, "viewer-2", answer, fmt.Sprint("a", round)))
			expectFrom(t, v2, ActionSDPAnswer, "", answer)
		}
		// A viewer cannot reach another viewer, whichever node refuses it.
		v1.send(msg(ActionSDPOffer, "viewer-2", offer, "x1"))
		v1.expectStatus("x1", awsapi.InvalidArgument)
		// Order holds across nodes: a burst (within 20 ICE/s) arrives as sent.
		for i := range 15 {
			v1.send(msg(ActionICECandidate, "", b64(fmt.Sprint("c", i)), ""))
		}
		for i := range 15 {
			expectFrom(t, m, ActionICECandidate, "viewer-1", b64(fmt.Sprint("c", i)))
		}
		// Each node counts its own connections.
		for i, want := range []Stats{{Masters: 1, Viewers: 1}, {Viewers: 1}, {}} {
			got := c.nodes[i].svc.Stats()
			if got.Masters != want.Masters || got.Viewers != want.Viewers {
				t.Errorf("node %d: %+v, want %d masters %d viewers", i, got, want.Masters, want.Viewers)
			}
		}
	})
}

// TestClusterTTLQueue: messages for a master or viewer not yet connected
// wait at the channel's owner and reach it on whichever node it connects;
// after the channel's TTL they are gone.
func TestClusterTTLQueue(t *testing.T) {
	forEachLayout(t, nil, func(t *testing.T, c *testCluster, arn string) {
		v1 := c.nodes[1].dial(arn, "viewer-1")
		v1.send(msg(ActionSDPOffer, "", offer, "o1"))
		v1.send(msg(ActionICECandidate, "", cand, ""))
		v1.sync()
		m := c.nodes[0].dial(arn, "")
		expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
		expectFrom(t, m, ActionICECandidate, "viewer-1", cand)
		// To a viewer not connected yet.
		m.send(msg(ActionSDPAnswer, "viewer-9", answer, ""))
		m.sync()
		v9 := c.nodes[2].dial(arn, "viewer-9")
		expectFrom(t, v9, ActionSDPAnswer, "", answer)

		// Past the TTL: queued messages expire at the owner. (The
		// candidate to viewer-9 proves the answer reached the owner: one
		// node's messages arrive there in order.)
		m.send(msg(ActionSDPAnswer, "viewer-7", answer, ""))
		m.send(msg(ActionICECandidate, "viewer-9", cand, ""))
		expectFrom(t, v9, ActionICECandidate, "", cand)
		c.clock.Add(61 * time.Second)
		for _, h := range c.nodes {
			h.svc.sweep()
		}
		v7 := c.nodes[1].dial(arn, "viewer-7")
		fresh := b64("fresh")
		m.send(msg(ActionSDPAnswer, "viewer-7", fresh, ""))
		expectFrom(t, v7, ActionSDPAnswer, "", fresh)
	})
}

// TestClusterNewestMasterWins: a master connecting on another node
// replaces the one before it, which is closed as a replaced master is on
// one node; viewers' messages go to the new one.
func TestClusterNewestMasterWins(t *testing.T) {
	forEachLayout(t, nil, func(t *testing.T, c *testCluster, arn string) {
		m1 := c.nodes[0].dial(arn, "")
		m2 := c.nodes[1].dial(arn, "")
		if code := m1.expectClosed(websocket.StatusNormalClosure); code != closeReplaced.text {
			t.Fatalf("old master closed with %q, want %q", code, closeReplaced.text)
		}
		v := c.nodes[2].dial(arn, "viewer-1")
		v.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m2, ActionSDPOffer, "viewer-1", offer)
		// And back to the first node.
		m3 := c.nodes[0].dial(arn, "")
		m2.expectClosed(websocket.StatusNormalClosure)
		v.send(msg(ActionSDPOffer, "", offer, ""))
		expectFrom(t, m3, ActionSDPOffer, "viewer-1", offer)
	})
}

// TestClusterViewerLimit: the 10 viewers of a channel count over every
// node; the 11th is refused wherever it connects, before the upgrade.
func TestClusterViewerLimit(t *testing.T) {
	forEachLayout(t, nil, func(t *testing.T, c *testCluster, arn string) {
		for i := range DefaultMaxViewers {
			c.nodes[i%3].dial(arn, fmt.Sprint("viewer-", i))
		}
		for i, h := range c.nodes {
			_, resp, err := h.tryDial(h.presign(arn, "viewer-extra", presignOpts{}))
			if err == nil || resp.status != http.StatusBadRequest || resp.code != string(awsapi.ClientLimitExceeded) {
				t.Fatalf("11th viewer on node %d: %v %s, want 400 %s", i, err, resp, awsapi.ClientLimitExceeded)
			}
		}
		// A viewer reconnecting with its id replaces itself: not counted
		// twice.
		c.nodes[2].dial(arn, "viewer-0")
	})
}

// TestClusterConnectRate: ConnectAsViewer is limited to 3 a second per
// channel over all nodes.
func TestClusterConnectRate(t *testing.T) {
	forEachLayout(t, func(cfg *Config) { cfg.ConnectRate = DefaultConnectRate }, func(t *testing.T, c *testCluster, arn string) {
		for i := range DefaultConnectRate {
			c.nodes[i].dial(arn, fmt.Sprint("viewer-", i))
		}
		for i, h := range c.nodes {
			_, resp, err := h.tryDial(h.presign(arn, "viewer-x", presignOpts{}))
			if err == nil || resp.status != http.StatusBadRequest || resp.code != string(awsapi.ClientLimitExceeded) {
				t.Fatalf("4th viewer in a second on node %d: %v %s, want 400 %s", i, err, resp, awsapi.ClientLimitExceeded)
			}
		}
		// The master's bucket is its own.
		c.nodes[1].dial(arn, "")
		c.clock.Add(time.Second)
		c.nodes[2].dial(arn, "viewer-x")
	})
}

// TestClusterNodeLeaves: when a node stops, the channels it owned move
// to the others, the remaining connections present themselves to the new
// owner, and master and viewer keep talking.
func TestClusterNodeLeaves(t *testing.T) {
	for _, bk := range busKinds {
		t.Run(bk.name, func(t *testing.T) {
			c := newCluster(t, 3, bk.new, nil)
			arn := c.channelOwnedBy("chan", 2, 60)
			m := c.nodes[0].dial(arn, "")
			v := c.nodes[1].dial(arn, "viewer-1")
			v.send(msg(ActionSDPOffer, "", offer, ""))
			expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)

			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := c.nodes[2].svc.Close(ctx); err != nil {
				t.Fatal(err)
			}
			waitNodes(t, c.nodes[0].svc, 2)
			waitNodes(t, c.nodes[1].svc, 2)
			// Messages sent before a connection presented itself to the
			// new owner wait there for it.
			m.send(msg(ActionSDPAnswer, "viewer-1", answer, ""))
			v.send(msg(ActionSDPOffer, "", offer, ""))
			expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
			expectFrom(t, v, ActionSDPAnswer, "", answer)
		})
	}
}

// TestClusterSendAlexaOfferToMaster: SendAlexaOfferToMaster called on
// one node reaches a master on another, its answer comes back to the
// call, and the channel's rate limit counts calls on every node.
func TestClusterSendAlexaOfferToMaster(t *testing.T) {
	forEachLayout(t, func(c *Config) { c.AlexaRate = 1 }, func(t *testing.T, c *testCluster, arn string) {
		m := c.nodes[0].dial(arn, "")
		type result struct {
			status int
			code   string
			body   string
		}
		call := func(h *harness, sender string) chan result {
			ch := make(chan result, 1)
			go func() {
				s, code, b := h.postJSON("/v1/send-alexa-offer-to-master", map[string]string{"ChannelARN": arn, "SenderClientId": sender, "MessagePayload": offer})
				ch <- result{s, code, string(b)}
			}()
			return ch
		}
		done := call(c.nodes[1], "alexa-1")
		expectFrom(t, m, ActionSDPOffer, "alexa-1", offer)
		m.send(msg(ActionICECandidate, "alexa-1", cand, ""))
		m.send(msg(ActionSDPAnswer, "alexa-1", answer, ""))
		if r := <-done; r.status != 200 || r.body != `{"Answer":"`+answer+`"}`+"\n" {
			t.Fatalf("call on node 1: %d %q", r.status, r.body)
		}
		// 1 a second on this channel, whichever node is called.
		if r := <-call(c.nodes[2], "alexa-2"); r.status != 400 || r.code != string(awsapi.ClientLimitExceeded) {
			t.Fatalf("second call on node 2: %d %s %s", r.status, r.code, r.body)
		}
	})
}

// TestClusterChannelDeleted: deleting a channel through one node ends its
// connections on every node with GO_AWAY.
func TestClusterChannelDeleted(t *testing.T) {
	forEachLayout(t, nil, func(t *testing.T, c *testCluster, arn string) {
		m := c.nodes[1].dial(arn, "")
		v := c.nodes[2].dial(arn, "viewer-1")
		c.nodes[0].svc.ChannelDeleted(context.Background(), &catalog.Channel{ARN: arn})
		for _, cl := range []*client{m, v} {
			cl.expect(TypeGoAway)
			cl.expectClosed(websocket.StatusGoingAway)
		}
	})
}

// TestClusterPeerTimeout: a node not heard of for PeerTimeout (by the
// Service's clock) is gone and its channels move; its next heartbeat
// brings it back.
func TestClusterPeerTimeout(t *testing.T) {
	c := newCluster(t, 2, busKinds[0].new, func(cfg *Config) { cfg.PeerTimeout = 5 * time.Second })
	arn := c.channelOwnedBy("chan", 1, 60)
	a, b := c.nodes[0].svc, c.nodes[1].svc
	c.clock.Add(5 * time.Second)
	a.sweep() // node 1 has been silent for 5 s
	waitNodes(t, a, 1)
	if o := a.cluster.owner(arn); o != a.cluster.self {
		t.Fatalf("channel still owned by %s", o)
	}
	b.sweep() // its heartbeat
	waitNodes(t, a, 2)
	if o := a.cluster.owner(arn); o != b.cluster.self {
		t.Fatalf("channel owned by %s after node 1 came back", o)
	}
}

// TestClusterOwnerDies: a node that dies without a goodbye (its NATS
// connection gone) is forgotten by the first node whose request finds
// nobody, which tells the others; the channel moves and a master and a
// viewer on the surviving nodes talk again.
func TestClusterOwnerDies(t *testing.T) {
	c := newCluster(t, 3, busKinds[1].new, nil)
	arn := c.channelOwnedBy("chan", 2, 60)
	m := c.nodes[0].dial(arn, "")
	c.buses[2].Close() // node 2 dies: its subscriptions go with its connection
	v := c.nodes[1].dial(arn, "viewer-1")
	waitNodes(t, c.nodes[0].svc, 2)
	waitNodes(t, c.nodes[1].svc, 2)
	v.send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, m, ActionSDPOffer, "viewer-1", offer)
	m.send(msg(ActionSDPAnswer, "viewer-1", answer, ""))
	expectFrom(t, v, ActionSDPAnswer, "", answer)
}
