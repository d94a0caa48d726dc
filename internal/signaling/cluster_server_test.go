package signaling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testinfra/natstest"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestServeClusterTURNSecret runs two openkvs nodes with --bus on a real
// NATS server and one --turn-secret: the TURN credential node A hands out
// in GetIceServerConfig opens an allocation on node B's TURN server. A
// node with another secret refuses it.
func TestServeClusterTURNSecret(t *testing.T) {
	nats := natstest.Start(t, natstest.Options{})
	clk := &clock{t: time.Now()}
	node := func(secret string) (*testserver.Server, string, string) {
		s := testserver.Start(t, testserver.Options{Now: clk.Now, Configure: func(c *config.Config) {
			c.Bus = nats.URL()
			c.TURN.Secret = secret
		}})
		kv := kinesisvideo.NewFromConfig(s.AWSConfig(s.HTTPSURL))
		arn, _, https := endpoints(t, kv, "turn-cluster")
		list := iceServers(t, s, https, arn, "viewer-1", clk.Now())
		for _, u := range list[0].Uris {
			if addr, ok := strings.CutPrefix(u, "turn:"); ok && strings.HasSuffix(addr, "?transport=udp") {
				return s, list[0].Username + "\x00" + list[0].Password, strings.TrimSuffix(addr, "?transport=udp")
			}
		}
		t.Fatalf("no TURN UDP URI in %+v", list)
		return nil, "", ""
	}
	const shared = "cluster-turn-secret-0123456789"
	_, credA, _ := node(shared)
	_, _, turnB := node(shared)
	_, _, turnOther := node("some-other-secret-0123456789")
	user, pass, _ := strings.Cut(credA, "\x00")

	relay, err := turnClient(t, "udp", turnB, user, pass).Allocate()
	if err != nil {
		t.Fatalf("node B refused node A's TURN credential: %v", err)
	}
	relay.Close()
	if relay, err := turnClient(t, "udp", turnOther, user, pass).Allocate(); err == nil {
		relay.Close()
		t.Fatal("a node with another TURN secret accepted the credential")
	}
}
