package localbus_test

import (
	"testing"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/bustest"
	"github.com/openkvs/openkvs/internal/bus/localbus"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(*testing.T) (bus.Bus, bus.Bus) {
		b := localbus.New(localbus.Config{MaxPayload: 8 << 20})
		return b, b
	})
}
