package server

import (
	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
)

// buildIngest builds PutMedia on arch and returns its operations.
func (s *Server) buildIngest(arch *archive.Archive) ([]awsapi.Operation, error) {
	_ = arch
	return nil, nil
}
