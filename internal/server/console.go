package server

import (
	"fmt"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/console"
)

// buildConsole builds the browser console (the /webrtc channel player and
// the /streams stream player) and returns its pages as operations.
func (s *Server) buildConsole() ([]awsapi.Operation, error) {
	c, err := console.New(console.Config{
		Region: s.cfg.Region,
		Logger: s.log.With("component", "console"),
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c.Operations(), nil
}
