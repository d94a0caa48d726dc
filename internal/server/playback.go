package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
	"github.com/openkvs/openkvs/internal/playback"
)

// buildPlayback builds the media and archived-media APIs (GetMedia,
// ListFragments, GetMediaForFragmentList, HLS/DASH, GetClip, GetImages) on
// arch and returns their operations. GetMedia sessions end when their
// stream is deleted, and all of them when shutdown begins (they would
// otherwise hold the HTTP servers' graceful wait until its deadline).
func (s *Server) buildPlayback(arch playback.Archive) ([]awsapi.Operation, error) {
	svc, err := playback.New(playback.Config{
		Archive: arch,
		Streams: s.store,
		Now:     s.now,
		Logger:  s.log.With("component", "playback"),
		Media: playback.MediaConfig{
			MaxGetMediaPerStream: s.cfg.Media.GetMedia.MaxSessionsPerStream,
			WriteTimeout:         s.cfg.Media.GetMedia.WriteTimeout,
		},
		// HLS/DASH session URLs point at the data endpoint the client
		// used; their signing key survives restarts in the data dir.
		Sessions: playback.SessionConfig{
			KeyFile: filepath.Join(s.cfg.DataDir, "session.key"),
			BaseURL: s.ep.DataEndpoint,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("playback: %w", err)
	}
	s.onShutdown = append(s.onShutdown, func() { _ = svc.Close() })
	s.onStreamDeleted = append(s.onStreamDeleted, func(_ context.Context, st *catalog.Stream) {
		svc.CloseStream(st.Name)
	})
	s.onStreamDeletedElsewhere = append(s.onStreamDeletedElsewhere, svc.CloseStream)
	return svc.Operations(), nil
}
