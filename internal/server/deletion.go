package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Stream deletion across the nodes of a cluster. The node that serves
// DeleteStream runs its deletion hooks (onStreamDeleted: it ends its
// PutMedia and GetMedia of the stream and deletes its data) and tells the
// other nodes on streamDeletedSubject; they run onStreamDeletedElsewhere:
// their PutMedia of the stream ends with the ERROR ack of a deleted
// stream, their GetMedia readers end, and their archive drops what it
// holds of the stream (also fragments heard on the bus) and what its
// upload under way indexed after the deletion. The notice is at most once
// (bus promise): a node that misses it keeps its connections until they
// end, and the retention sweeper of any node deletes what they indexed
// once it finds the stream gone from the catalog.

// streamDeletedSubject carries the deletion notices.
const streamDeletedSubject = "openkvs.streams.deleted"

// streamDeleted is a deletion notice.
type streamDeleted struct {
	Node   string `json:"node"`
	Stream string `json:"stream"`
}

// shareStreamDeletions tells the other nodes of a cluster of the streams
// this node deletes and runs onStreamDeletedElsewhere for theirs. It does
// nothing on a single node.
func (s *Server) shareStreamDeletions() error {
	b := s.peerBus()
	if b == nil {
		return nil
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	node := hex.EncodeToString(id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub, err := b.Subscribe(ctx, streamDeletedSubject, func(m *bus.Msg) {
		var d streamDeleted
		if err := json.Unmarshal(m.Data, &d); err != nil || d.Stream == "" {
			s.log.Warn("bad stream deletion notice on the bus", "err", err)
			return
		}
		if d.Node == node {
			return
		}
		s.log.Debug("stream deleted by another node", "stream", d.Stream, "node", d.Node)
		for _, f := range s.onStreamDeletedElsewhere {
			f(d.Stream)
		}
	}, bus.SubscribeOptions{})
	if err != nil {
		return fmt.Errorf("bus: subscribe %s: %w", streamDeletedSubject, err)
	}
	s.closers = append(s.closers, sub.Unsubscribe)
	// First of the hooks: the other nodes end their connections while
	// this one deletes the data.
	s.onStreamDeleted = append([]func(context.Context, *catalog.Stream){func(ctx context.Context, st *catalog.Stream) {
		data, _ := json.Marshal(streamDeleted{Node: node, Stream: st.Name})
		if err := b.Publish(context.WithoutCancel(ctx), streamDeletedSubject, data); err != nil {
			s.log.Warn("tell the other nodes of a stream deletion", "stream", st.Name, "err", err)
		}
	}}, s.onStreamDeleted...)
	return nil
}
