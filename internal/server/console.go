package server

import "github.com/openkvs/openkvs/internal/awsapi"

// buildConsole builds the browser console (the /webrtc channel player and
// the /streams stream player) and returns its pages as operations.
func (s *Server) buildConsole() ([]awsapi.Operation, error) {
	return nil, nil
}
