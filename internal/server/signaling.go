package server

import "github.com/openkvs/openkvs/internal/awsapi"

// buildSignaling builds the signaling half of KVS (WebSocket signaling,
// GetIceServerConfig, STUN/TURN) and returns its operations.
func (s *Server) buildSignaling() ([]awsapi.Operation, error) {
	return nil, nil
}
