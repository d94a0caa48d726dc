package server

import "github.com/openkvs/openkvs/internal/awsapi"

// buildMedia builds the video-stream half of KVS (archive, PutMedia ingest,
// GetMedia and the archived-media APIs) and returns its operations.
func (s *Server) buildMedia() ([]awsapi.Operation, error) {
	return nil, nil
}
