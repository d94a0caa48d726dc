package kvswebrtc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/openkvs/openkvs/internal/testserver"
)

// TestDiscover resolves channels through the real kinesisvideo client
// against openkvs: a missing one fails (or is created with Create), the
// ARN and the name find the same channel, and both signaling endpoints
// come back.
func TestDiscover(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	kvs := srv.KVS()
	ctx := context.Background()
	_, err := Discover(ctx, kvs, DiscoverInput{ChannelName: "missing", Role: RoleViewer})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("Discover(missing) = %v, want ResourceNotFoundException", err)
	}
	ch, err := Discover(ctx, kvs, DiscoverInput{ChannelName: "made", Role: RoleMaster, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.ARN, ":channel/made/") || ch.Name != "made" || ch.Role != RoleMaster || ch.MessageTTL != 60*time.Second {
		t.Errorf("created channel %+v", ch)
	}
	if !strings.HasPrefix(ch.WSSEndpoint, "wss://127.0.0.1:") || !strings.HasPrefix(ch.HTTPSEndpoint, "https://127.0.0.1:") {
		t.Errorf("endpoints %s %s", ch.WSSEndpoint, ch.HTTPSEndpoint)
	}
	again, err := Discover(ctx, kvs, DiscoverInput{ChannelARN: ch.ARN, Role: RoleViewer, Create: true})
	if err != nil || again.ARN != ch.ARN || again.Role != RoleViewer {
		t.Errorf("Discover by ARN = %+v, %v", again, err)
	}
	for _, in := range []DiscoverInput{{Role: RoleViewer}, {ChannelName: "made", Role: "ADMIN"}} {
		if _, err := Discover(ctx, kvs, in); err == nil {
			t.Errorf("Discover(%+v) succeeded", in)
		}
	}
}
