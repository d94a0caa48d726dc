package turnserver

import (
	"testing"
	"time"
)

// TestSharedSecretAcrossServers: in a cluster every node's TURN server
// is configured with one secret, so a credential that node A hands out in
// GetIceServerConfig opens an allocation on node B; a server with another
// secret refuses it (pion/turn answers a failed authentication with 400).
func TestSharedSecretAcrossServers(t *testing.T) {
	shared := []byte("cluster-wide-turn-secret-0123456789")
	withSecret := func(s []byte) serverOption { return func(c *Config) { c.Secret = s } }
	a := startServer(t, withSecret(shared))
	b := startServer(t, withSecret(shared))
	other := startServer(t, withSecret([]byte("another-secret-0123456789abcdef")))

	list := a.ICEServers("master-1")
	if len(list) == 0 {
		t.Fatal("node A hands out no ICE servers")
	}
	user, pass := list[0].Username, list[0].Password
	for name, ts := range map[string]*testServer{"A": a, "B": b} {
		cl, _ := newClient(t, ts, "udp", user, pass)
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("node %s refused node A's credential: %v", name, err)
		}
		relay.Close()
	}
	cl, _ := newClient(t, other, "udp", user, pass)
	if _, err := cl.Allocate(); !refused(err) {
		t.Fatalf("a server with another secret: %v, want a refusal", err)
	}
	// The clock of each node checks the expiry the minting node wrote.
	b.clock.Advance(DefaultCredentialTTL + time.Second)
	cl, _ = newClient(t, b, "udp", user, pass)
	if _, err := cl.Allocate(); !refused(err) {
		t.Fatalf("expired credential on node B: %v, want a refusal", err)
	}
}

func refused(err error) bool {
	code := turnErrorCode(err)
	return code == 400 || code == 401
}
