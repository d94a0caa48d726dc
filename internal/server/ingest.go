package server

import (
	"context"
	"fmt"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/ingest"
)

// buildIngest builds PutMedia on arch and returns its operations. A deleted
// stream's PutMedia connection is ended (its producer gets an ERROR ack)
// before the stream's data is deleted, and every connection is ended before
// the HTTP servers wait for running requests at shutdown. In a cluster a
// PutMedia on another node ends this node's connection of the stream.
func (s *Server) buildIngest(arch ingest.Archive) ([]awsapi.Operation, error) {
	pm := s.cfg.Media.PutMedia
	svc, err := ingest.New(ingest.Config{
		Archive:                   arch,
		Streams:                   s.store,
		Logger:                    s.log.With("component", "ingest"),
		MaxFragmentSize:           pm.MaxFragmentSize,
		MaxFragmentDuration:       pm.MaxFragmentDuration,
		MaxTracks:                 pm.MaxTracks,
		MaxFragmentTags:           pm.MaxFragmentTags,
		MaxConnectionDuration:     pm.MaxConnectionDuration,
		IdleTimeout:               pm.IdleTimeout,
		IdleAckInterval:           pm.IdleAckInterval,
		ConnectionsPerSecond:      pm.ConnectionsPerSecond,
		MaxProducerTimestampAhead: pm.MaxProducerTimestampAhead,
		Now:                       s.now,
		Bus:                       s.peerBus(),
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s.closers = append(s.closers, svc.Close)
	s.onShutdown = append(s.onShutdown, func() { _ = svc.Close() })
	s.onStreamDeleted = append(s.onStreamDeleted, func(_ context.Context, st *catalog.Stream) {
		svc.CloseStream(st.Name)
	})
	s.onStreamDeletedElsewhere = append(s.onStreamDeletedElsewhere, svc.CloseStream)
	return svc.Operations(), nil
}
