package natstest

import (
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	for _, js := range []bool{false, true} {
		s := Start(t, Options{JetStream: js})
		if !strings.HasPrefix(s.URL(), "nats://127.0.0.1:") {
			t.Errorf("URL %q, want nats://127.0.0.1:port", s.URL())
		}
		if got := s.JetStreamEnabled(); got != js {
			t.Errorf("JetStream enabled %v, want %v", got, js)
		}
	}
}
