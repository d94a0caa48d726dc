package signaling

import (
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
)

// BenchmarkClusterOfferAnswerRoundTrip is BenchmarkOfferAnswerRoundTrip
// three ways in one run: on one node (no bus), and with the masters on
// node A and the viewers on node B of a two-node cluster, over an
// in-process bus and over a real NATS server on loopback (started in the
// process). The 10 channels' owners are spread over both nodes by the
// hash, so an offer crosses the bus once or twice each way. p50-ms and
// p99-ms are the round-trip times.
func BenchmarkClusterOfferAnswerRoundTrip(b *testing.B) {
	lift := func(c *Config) { c.SDPRate, c.ICERate = -1, -1 }
	b.Run("single-node", func(b *testing.B) {
		bs := newBenchServer(b, lift)
		benchRoundTrip(b, bs, bs)
	})
	b.Run("nats-2-nodes", func(b *testing.B) {
		srv := natstest.Start(b, natstest.Options{})
		store := &memStore{m: make(map[string]*catalog.Channel)}
		var nodes []*benchServer
		for _, id := range []string{"a", "b"} {
			nb, err := natsbus.New(natsbus.Config{URL: srv.URL(), Name: id})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { nb.Close() })
			nodes = append(nodes, newBenchServerOn(b, store, false, func(c *Config) {
				lift(c)
				c.Bus, c.NodeID = bus.Bus(nb), id
			}))
		}
		waitBenchNodes(b, nodes, 2)
		benchRoundTrip(b, nodes[0], nodes[1])
	})
}

func waitBenchNodes(b *testing.B, nodes []*benchServer, n int) {
	for _, bs := range nodes {
		timeout := time.After(10 * time.Second)
		for len(*bs.svc.cluster.nodes.Load()) != n {
			select {
			case <-bs.svc.cluster.changed:
			case <-timeout:
				b.Fatalf("nodes did not meet")
			}
		}
	}
}
