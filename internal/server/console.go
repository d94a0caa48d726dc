package server

import (
	"fmt"
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/console"
)

// buildConsole builds the browser console (the /webrtc channel player and
// the /streams stream player) and returns its pages as operations.
func (s *Server) buildConsole() ([]awsapi.Operation, error) {
	cfg := console.Config{
		Region: s.cfg.Region,
		Logger: s.log.With("component", "console"),
		CAPath: s.CAPath(),
	}
	if config.Enabled(s.cfg.TLSListen) {
		cfg.TLSURL = func(r *http.Request) string {
			_, https := s.ep.SignalingEndpoints(r)
			return https
		}
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c.Operations(), nil
}
