package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
)

// One PutMedia connection per stream across the nodes of a cluster
// (Config.Bus set).
//
// A node that accepts a PutMedia announces it on the stream's subject:
// "stream X is now taken by connection C of node N, started at T". Every
// other node that holds an older connection for X ends it as a connection
// replaced on one node ends (stopTakenOver: it stops reading, delivers the
// acks of what it received and closes without an ERROR). Older means an
// earlier start time, node ids breaking ties; start times come from the
// nodes' clocks, so two connections opened within the nodes' clock skew
// may be ordered by it. A node whose connection is newer than an
// announced one answers with its own announcement, so that the older one
// ends also when the two announcements crossed on the bus. Announcements
// are at most once (bus promise): one lost to a dying node ends nothing,
// and that node's connections die with it.

// takeoverShards is the number of subjects streams are spread over
// ("openkvs.ingest.stream.N"): each has its own handler goroutine.
const (
	takeoverSubjectPrefix = "openkvs.ingest.stream."
	takeoverShards        = 8
)

// takeoverSubject is the subject of stream's announcements.
func takeoverSubject(stream string) string {
	return takeoverSubjectPrefix + strconv.Itoa(bus.Shard(stream, takeoverShards))
}

// taken is the announcement of a new PutMedia connection.
type taken struct {
	Node    string `json:"node"`
	Conn    uint64 `json:"conn"`
	Stream  string `json:"stream"`
	Started int64  `json:"started"` // Unix nanoseconds
}

// newer reports whether connection (node, started) is newer than c of this
// node.
func (s *Service) newer(node string, started int64, c *conn) bool {
	own := c.started.UnixNano()
	return started > own || (started == own && node > s.node)
}

// startCluster subscribes to the announcements of the other nodes.
func (s *Service) startCluster() error {
	s.node = s.cfg.NodeID
	if s.node == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		s.node = hex.EncodeToString(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range takeoverShards {
		subject := takeoverSubjectPrefix + strconv.Itoa(i)
		sub, err := s.cfg.Bus.Subscribe(ctx, subject, s.handleTaken, bus.SubscribeOptions{})
		if err != nil {
			s.stopCluster()
			return fmt.Errorf("ingest: subscribe %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	return nil
}

func (s *Service) stopCluster() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.subs = nil
}

// announce tells the other nodes that c holds its stream.
func (s *Service) announce(c *conn) {
	data, _ := json.Marshal(taken{Node: s.node, Conn: c.id, Stream: c.stream, Started: c.started.UnixNano()})
	if err := s.cfg.Bus.Publish(context.Background(), takeoverSubject(c.stream), data); err != nil {
		s.log.Warn("ingest: announce PutMedia connection", "stream", c.stream, "err", err)
	}
}

// handleTaken ends this node's connection of a stream another node took
// with a newer one, or answers an older one with this node's.
func (s *Service) handleTaken(m *bus.Msg) {
	var t taken
	if err := json.Unmarshal(m.Data, &t); err != nil || t.Node == "" {
		s.log.Warn("ingest: bad announcement on the bus", "subject", m.Subject)
		return
	}
	if t.Node == s.node {
		return
	}
	s.mu.Lock()
	c := s.conns[t.Stream]
	replace := c != nil && s.newer(t.Node, t.Started, c)
	s.mu.Unlock()
	switch {
	case c == nil:
	case replace:
		s.log.Debug("putmedia: taken over by another node", "stream", t.Stream, "node", t.Node)
		c.stop(stopTakenOver)
	default:
		s.announce(c) // ours is newer: the other node ends its connection
	}
}
