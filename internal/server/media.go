package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// buildMedia builds the video-stream half of KVS: the fragment archive,
// PutMedia ingest (ingest.go) and the media and archived-media APIs
// (playback.go), and returns their operations.
func (s *Server) buildMedia() ([]awsapi.Operation, error) {
	arch, err := s.openArchive()
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	s.closers = append(s.closers, arch.Close)
	// Ingest first: its deletion hook ends the stream's PutMedia
	// connection before the hook below deletes the data.
	ingestOps, err := s.buildIngest(arch)
	if err != nil {
		return nil, err
	}
	s.onStreamDeleted = append(s.onStreamDeleted, func(_ context.Context, st *catalog.Stream) {
		if err := arch.DeleteStream(st.Name); err != nil {
			s.log.Warn("delete stream data", "stream", st.Name, "err", err)
		}
	})
	if f, ok := arch.(interface{ ForgetStream(string) error }); ok {
		s.onStreamDeletedElsewhere = append(s.onStreamDeletedElsewhere, func(name string) {
			if err := f.ForgetStream(name); err != nil {
				s.log.Warn("forget stream deleted by another node", "stream", name, "err", err)
			}
		})
	}
	playbackOps, err := s.buildPlayback(arch)
	if err != nil {
		return nil, err
	}
	if err := s.shareStreamDeletions(); err != nil {
		return nil, err
	}
	return append(ingestOps, playbackOps...), nil
}

// streamRetention tells the archive's sweeper how long a stream keeps its
// fragments; ok is false once the stream is gone.
func (s *Server) streamRetention(ctx context.Context, name string) (time.Duration, bool, error) {
	st, err := s.store.GetStream(ctx, name)
	switch {
	case err == nil:
		return time.Duration(st.DataRetentionInHours) * time.Hour, true, nil
	case errors.Is(err, catalog.ErrNotFound):
		return 0, false, nil
	default:
		return 0, false, err
	}
}
