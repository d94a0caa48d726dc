package ingest_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
	"github.com/openkvs/openkvs/internal/ingest"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
)

// clusterNode is an ingest harness joined to a NATS bus.
func clusterNode(t *testing.T, url, id string) *harness {
	t.Helper()
	nb, err := natsbus.New(natsbus.Config{URL: url, Name: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nb.Close() })
	h := newHarness(t, ingest.Config{Bus: nb, NodeID: id, ConnectionsPerSecond: -1})
	h.createStream("cam", 1)
	return h
}

// TestPutMediaNewestWinsAcrossNodes: two nodes on a real NATS server, one
// stream. A PutMedia on the second node ends the first node's connection
// of the stream as a replaced connection ends on one node (the acks of
// what it received, no ERROR), whichever node came first; the newest
// connection goes on.
func TestPutMediaNewestWinsAcrossNodes(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	nodes := []*harness{clusterNode(t, ns.URL(), "node-a"), clusterNode(t, ns.URL(), "node-b")}
	for i, order := range [][2]int{{0, 1}, {1, 0}} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			first, second := nodes[order[0]], nodes[order[1]]
			old := startPutMedia(t, nil, first.url, putOptions{name: "cam"})
			tc := uint64(i) * 10_000
			_ = old.write(clusters(t, 1, tc))
			expectEvents(t, []ack{mustNext(t, old), mustNext(t, old), mustNext(t, old)}, "BUFFERING", "RECEIVED", "PERSISTED")

			cur := startPutMedia(t, nil, second.url, putOptions{name: "cam"})
			if cur.status != 200 {
				t.Fatalf("second connection: status %d: %s", cur.status, cur.errMsg)
			}
			if rest := old.rest(); len(rest) != 0 { // ends, without an ERROR
				t.Fatalf("replaced connection: acks %s, want none", rawAcks(rest))
			}
			_ = cur.write(clusters(t, 1, tc+1000, tc+2000))
			cur.close()
			persisted := 0
			for _, a := range cur.rest() {
				if a.EventType == "PERSISTED" {
					persisted++
				}
			}
			if persisted != 2 {
				t.Fatalf("newest connection: %d fragments PERSISTED, want 2", persisted)
			}
		})
	}
}

// TestPutMediaOlderAnnouncementAnswered: a node holding a stream's
// connection that hears of an older connection elsewhere (the two
// announcements crossed) keeps its own and announces it again, so that the
// older one ends there.
func TestPutMediaOlderAnnouncementAnswered(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	h := clusterNode(t, ns.URL(), "node-a")
	peer, err := natsbus.New(natsbus.Config{URL: ns.URL(), Name: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	heard := make(chan map[string]any, 16)
	for i := range 8 {
		if _, err := peer.Subscribe(t.Context(), "openkvs.ingest.stream."+strconv.Itoa(i), func(m *bus.Msg) {
			var v map[string]any
			_ = json.Unmarshal(m.Data, &v)
			v["subject"] = m.Subject
			heard <- v
		}, bus.SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s := startPutMedia(t, nil, h.url, putOptions{name: "cam"})
	sy := newSynth(t, 1)
	sy.cluster(t, 0, 2, 100)
	_ = s.write(sy.take())
	expectEvents(t, []ack{mustNext(t, s), mustNext(t, s), mustNext(t, s)}, "BUFFERING", "RECEIVED", "PERSISTED")
	own := next(t, heard)
	if own["node"] != "node-a" || own["stream"] != "cam" {
		t.Fatalf("announcement %v, want node-a's of cam", own)
	}
	older, _ := json.Marshal(map[string]any{"node": "node-z", "conn": 1, "stream": "cam", "started": time.Now().Add(-time.Minute).UnixNano()})
	if err := peer.Publish(t.Context(), own["subject"].(string), older); err != nil {
		t.Fatal(err)
	}
	_ = next(t, heard) // our own older announcement
	if again := next(t, heard); again["node"] != "node-a" || again["conn"] != own["conn"] {
		t.Fatalf("answer %v, want node-a's connection %v again", again, own["conn"])
	}
	sy.cluster(t, 1000, 2, 100) // the connection goes on
	_ = s.write(sy.take())
	s.close()
	expectEvents(t, s.rest(), "BUFFERING", "RECEIVED", "PERSISTED")
}

func next(t *testing.T, ch <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatal("nothing on the bus")
		return nil
	}
}
