package kvswebrtc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// TestMasterViewer runs a Master and a Viewer through openkvs signaling
// (channel made with the real kinesisvideo client, endpoints discovered,
// TURN credentials from GetIceServerConfig) and checks that the viewer
// receives the master's video and audio in the right codecs, that its
// first frame is a key frame, that the data channel echoes, and that
// forced relaying goes through openkvs' TURN server over UDP, TCP and TLS
// (turns:, verified with the openkvs CA the signaling client trusts).
func TestMasterViewer(t *testing.T) {
	tests := []struct {
		name      string
		video     string
		mime      string
		forceTURN bool
		transport string
		turnTLS   bool // serve TURN over TLS: TCP is handed out as turns: only
		wantPair  string
	}{
		{name: "h264-direct", video: "sample.h264", mime: webrtc.MimeTypeH264, wantPair: "host/"},
		{name: "h265-direct", video: "sample.h265", mime: webrtc.MimeTypeH265, wantPair: "host/"},
		{name: "vp8-direct", video: "sample.ivf", mime: webrtc.MimeTypeVP8, wantPair: "host/"},
		{name: "h264-turn-udp", video: "sample.h264", mime: webrtc.MimeTypeH264, forceTURN: true, transport: "udp", wantPair: "relay/udp(udp)"},
		{name: "h264-turn-tcp", video: "sample.h264", mime: webrtc.MimeTypeH264, forceTURN: true, transport: "tcp", wantPair: "relay/udp(tcp)"},
		{name: "h264-turn-tls", video: "sample.h264", mime: webrtc.MimeTypeH264, forceTURN: true, transport: "tcp", turnTLS: true, wantPair: "relay/udp(tls)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts testserver.Options
			if tt.turnTLS {
				opts.Configure = func(c *config.Config) { c.TURN.TLSListen = "127.0.0.1:0" }
			}
			r := newRig(t, opts)
			peer := loopPeer(t)
			peer.ForceTURN, peer.TURNTransport = tt.forceTURN, tt.transport
			m, err := NewMaster(MasterConfig{
				Signaling:     r.signaling(RoleMaster, "", nil),
				Peer:          peer,
				Video:         sampleSource(t, tt.video),
				Audio:         sampleSource(t, "sample.ogg"),
				StatsInterval: -1,
				Logger:        testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			goRun(t, m.Run)
			v, err := NewViewer(ViewerConfig{
				Signaling:     r.signaling(RoleViewer, "viewer-1", nil),
				Peer:          peer,
				StatsInterval: -1,
				Logger:        testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			goRun(t, v.Run)
			waitFor(t, "first frame", v.FirstFrame())
			waitFor(t, "connected", v.Connected())
			waitFor(t, "data channel open", v.DataChannelOpen())
			if err := v.SendData("ping"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "data channel echo", v.Echoed())
			waitFor(t, "audio", v.FirstAudio())
			s := v.Stats()
			if s.AudioCodec != webrtc.MimeTypeOpus || s.AudioPackets == 0 {
				t.Errorf("audio %q, %d packets", s.AudioCodec, s.AudioPackets)
			}
			t.Logf("pair %s, time to first frame %v (connected after %v), %d PLIs", s.CandidatePair, s.TimeToFirstFrame(), s.Connected.Sub(s.Started), s.PLIs)
			if s.VideoCodec != tt.mime {
				t.Errorf("video codec %q, want %q", s.VideoCodec, tt.mime)
			}
			if s.VideoFrames == 0 || s.VideoPackets == 0 {
				t.Errorf("no video: %+v", s)
			}
			if !strings.HasPrefix(s.CandidatePair, tt.wantPair) {
				t.Errorf("candidate pair %q, want %s...", s.CandidatePair, tt.wantPair)
			}
			ms := m.Stats()
			if len(ms) != 1 || ms[0].ViewerID != "viewer-1" || ms[0].FramesSent == 0 {
				t.Errorf("master stats %+v", ms)
			}
		})
	}
}

// TestMasterManyViewers connects several viewers at once to one master:
// each gets its own PeerConnection, media and echoes, and the master's
// stats list them all.
func TestMasterManyViewers(t *testing.T) {
	const n = 4
	r := newRig(t, testserver.Options{})
	m, err := NewMaster(MasterConfig{
		Signaling:     r.signaling(RoleMaster, "", nil),
		Peer:          loopPeer(t),
		Video:         sampleSource(t, "sample.h264"),
		Audio:         sampleSource(t, "sample.ogg"),
		StatsInterval: -1,
		Logger:        testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, m.Run)
	viewers := make([]*Viewer, n)
	for i := range viewers {
		v, err := NewViewer(ViewerConfig{
			Signaling:     r.signaling(RoleViewer, fmt.Sprintf("viewer-%d", i), nil),
			Peer:          loopPeer(t),
			StatsInterval: -1,
			Logger:        testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		viewers[i] = v
		goRun(t, v.Run)
	}
	for i, v := range viewers {
		waitFor(t, fmt.Sprintf("viewer %d first frame", i), v.FirstFrame())
		waitFor(t, fmt.Sprintf("viewer %d data channel", i), v.DataChannelOpen())
		if err := v.SendData(fmt.Sprint("hello ", i)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("viewer %d echo", i), v.Echoed())
		waitFor(t, fmt.Sprintf("viewer %d audio", i), v.FirstAudio())
		if s := v.Stats(); s.VideoCodec != webrtc.MimeTypeH264 || s.AudioCodec != webrtc.MimeTypeOpus {
			t.Errorf("viewer %d codecs %q %q", i, s.VideoCodec, s.AudioCodec)
		}
	}
	ms := m.Stats()
	if len(ms) != n {
		t.Fatalf("master lists %d viewers, want %d: %+v", len(ms), n, ms)
	}
	for i, s := range ms {
		if s.ViewerID != fmt.Sprintf("viewer-%d", i) || s.FramesSent == 0 || s.State != webrtc.PeerConnectionStateConnected {
			t.Errorf("master stats %+v", s)
		}
	}
}
