package kvswebrtc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/internal/testserver"
)

// TestSDPAdvertisesTrickle: the Viewer's offer and the Master's answer carry
// "a=ice-options:trickle". Without it the KVS WebRTC C SDK master holds its
// answer until its own gathering ends (up to 10 s) instead of trickling.
func TestSDPAdvertisesTrickle(t *testing.T) {
	const option = "a=ice-options:trickle"
	peer := loopPeer(t)
	peer.NoTURN = true

	t.Run("viewer offer", func(t *testing.T) {
		r := newRig(t, testserver.Options{})
		master := r.signaling(RoleMaster, "", nil)
		goRun(t, master.Run)
		v, err := NewViewer(ViewerConfig{Signaling: r.signaling(RoleViewer, "v1", nil), Peer: peer, StatsInterval: -1, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		goRun(t, v.Run)
		sd, err := recvType(t, master, SDPOffer).SessionDescription()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sd.SDP, option) {
			t.Errorf("viewer offer lacks %q:\n%s", option, sd.SDP)
		}
	})

	t.Run("master answer", func(t *testing.T) {
		r := newRig(t, testserver.Options{})
		m, err := NewMaster(MasterConfig{Signaling: r.signaling(RoleMaster, "", nil), Peer: peer, Video: sampleSource(t, "sample.h264"), StatsInterval: -1, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		goRun(t, m.Run)
		viewer := r.signaling(RoleViewer, "v1", nil)
		goRun(t, viewer.Run)
		api, err := newAPI(peer, nil)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil) // no trickle option: the master adds its own anyway
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		// Signaling queues the offer if the master is not connected yet.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := viewer.SendSessionDescription(ctx, "", offer); err != nil {
			t.Fatal(err)
		}
		sd, err := recvType(t, viewer, SDPAnswer).SessionDescription()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sd.SDP, option) {
			t.Errorf("master answer lacks %q:\n%s", option, sd.SDP)
		}
	})
}

// TestViewerOfferBeforeCandidates: the master gets each Viewer's offer
// before any of its candidates. pion gathers host candidates as soon as
// the offer is set as the local description, so without care the first
// candidate can overtake the offer; a master that drops candidates of an
// unknown peer then loses it.
func TestViewerOfferBeforeCandidates(t *testing.T) {
	r := newRig(t, testserver.Options{})
	master := r.signaling(RoleMaster, "", nil)
	goRun(t, master.Run)
	peer := loopPeer(t)
	peer.NoTURN = true
	for i := range 50 {
		id := fmt.Sprintf("viewer-%d", i)
		v, err := NewViewer(ViewerConfig{Signaling: r.signaling(RoleViewer, id, nil), Peer: peer, NoAudio: true, NoDataChannel: true, StatsInterval: -1, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		first := firstFrom(t, master, id)
		cancel()
		<-done
		if first.Type != SDPOffer {
			t.Fatalf("%s: first message %s, want %s", id, first.Type, SDPOffer)
		}
	}
}

// firstFrom returns the first message from sender that sc receives.
func firstFrom(t *testing.T, sc *SignalingClient, sender string) Message {
	t.Helper()
	return recvMatch(t, sc, "a message from "+sender, func(m Message) bool { return m.SenderClientID == sender })
}

// TestMasterAnswerBeforeCandidates: a viewer gets the Master's answer
// before any of its candidates (a browser refuses candidates that come
// before the remote description).
func TestMasterAnswerBeforeCandidates(t *testing.T) {
	r := newRig(t, testserver.Options{})
	peer := loopPeer(t)
	peer.NoTURN = true
	m, err := NewMaster(MasterConfig{Signaling: r.signaling(RoleMaster, "", nil), Peer: peer, Video: sampleSource(t, "sample.h264"), StatsInterval: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, m.Run)
	api, err := newAPI(peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The master paces its answers (5 a second, as KVS allows).
	for i := range 20 {
		viewer := r.signaling(RoleViewer, fmt.Sprintf("viewer-%d", i), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- viewer.Run(ctx) }()
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		if err := viewer.SendSessionDescription(ctx, "", offer); err != nil {
			t.Fatal(err)
		}
		first := firstFrom(t, viewer, "")
		cancel()
		<-done
		_ = pc.Close()
		if first.Type != SDPAnswer {
			t.Fatalf("viewer-%d: first message %s, want %s", i, first.Type, SDPAnswer)
		}
	}
}
