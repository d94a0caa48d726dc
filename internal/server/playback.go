package server

import (
	"fmt"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/playback"
)

// buildPlayback builds the media and archived-media APIs (GetMedia,
// ListFragments, GetMediaForFragmentList, HLS/DASH, GetClip, GetImages) on
// arch and returns their operations.
func (s *Server) buildPlayback(arch *archive.Archive) ([]awsapi.Operation, error) {
	svc, err := playback.New(playback.Config{
		Archive: arch,
		Streams: s.store,
		Now:     s.now,
		Logger:  s.log.With("component", "playback"),
	})
	if err != nil {
		return nil, fmt.Errorf("playback: %w", err)
	}
	return svc.Operations(), nil
}
