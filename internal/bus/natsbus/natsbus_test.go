package natsbus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/bus/bustest"
	"github.com/openkvs/openkvs/internal/bus/natsbus"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
)

// TestConformance runs the bus suite over two connections to a real NATS
// server started in the test.
func TestConformance(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	bustest.Run(t, func(t *testing.T) (bus.Bus, bus.Bus) {
		return connect(t, srv.URL()), connect(t, srv.URL())
	})
}

func connect(t *testing.T, url string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(natsbus.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigErrors(t *testing.T) {
	if _, err := natsbus.New(natsbus.Config{}); !errors.Is(err, natsbus.ErrNoURL) {
		t.Errorf("no URL: %v, want ErrNoURL", err)
	}
	// Nothing listens on port 1 of loopback.
	if _, err := natsbus.New(natsbus.Config{URL: "nats://u:secret@127.0.0.1:1", ConnectTimeout: 500e6}); err == nil {
		t.Error("connect to a closed port succeeded")
	} else if s := err.Error(); strings.Contains(s, "secret") {
		t.Errorf("error shows the password: %s", s)
	}
}
