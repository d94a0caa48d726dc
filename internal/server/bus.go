package server

import (
	"fmt"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/localbus"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
)

// buildBus opens the message bus: NATS when cfg.Bus names a server (the
// node joins a cluster), else the in-process bus. It is closed after the
// components that use it (closers run in reverse).
func (s *Server) buildBus() error {
	if s.cfg.Bus == "" {
		s.bus = localbus.New(localbus.Config{})
	} else {
		nb, err := natsbus.New(natsbus.Config{URL: s.cfg.Bus, Name: "openkvs " + s.cfg.Listen, Logger: s.log.With("component", "bus")})
		if err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		s.bus = nb
		s.clusterBus = nb
	}
	s.closers = append(s.closers, s.bus.Close)
	return nil
}

// peerBus is the bus to the other nodes of a cluster, which signaling
// routes over and ingest announces PutMedia connections on: none on a
// single node, where both stay in process without serializing anything.
func (s *Server) peerBus() bus.Bus {
	if s.clusterBus == nil {
		return nil
	}
	return s.clusterBus
}
