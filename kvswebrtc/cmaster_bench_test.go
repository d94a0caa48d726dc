package kvswebrtc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/testserver"
)

// cSDKGatherTimeout is the KVS WebRTC C SDK's ICE gathering timeout.
const cSDKGatherTimeout = 10 * time.Second

// BenchmarkTimeToFirstFrameCMaster measures an openkvs Viewer's time to
// its first video frame from a master that behaves like the KVS WebRTC C
// SDK's (see cMaster). Cases:
//
//   - trickle: today's viewer offer and ICE servers (TCP TURN as turns:);
//   - trickle-relay-tls: the same with the media relayed through openkvs'
//     TURN over TLS on both sides (our Viewer dials turns: with the openkvs
//     CA);
//   - no-trickle: the master holds its answer until its gathering (TURN
//     allocations over UDP and TLS included) has ended, as it does for an
//     offer without the trickle option.
//
// The 10 s of issue 8 (a C master stalled on the TLS handshake to a plain
// TCP TURN port until its gathering timeout) does not show here: pion's
// TURN server drops the connection at the TLS ClientHello at once.
//
// Run it with
//
//	go test -run '^$' -bench TimeToFirstFrameCMaster -benchtime 5x ./kvswebrtc/
func BenchmarkTimeToFirstFrameCMaster(b *testing.B) {
	b.Run("trickle", func(b *testing.B) { benchCMaster(b, &cMaster{}) })
	b.Run("trickle-relay-tls", func(b *testing.B) { benchCMaster(b, &cMaster{relay: true}) })
	b.Run("no-trickle", func(b *testing.B) { benchCMaster(b, &cMaster{ignoreTrickle: true}) })
}

func benchCMaster(b *testing.B, m *cMaster) {
	r := newRig(b, testserver.Options{Configure: func(c *config.Config) { c.TURN.TLSListen = "127.0.0.1:0" }})
	roots := r.srv.HTTPClient().Transport.(*http.Transport).TLSClientConfig.RootCAs
	peer := loopPeer(b)
	peer.ForceTURN = m.relay // no wait for better pairs: the C SDK has none
	api, err := newAPI(peer, allTLSDialer{roots: roots})
	if err != nil {
		b.Fatal(err)
	}
	m.api, m.sc, m.log = api, r.signaling(RoleMaster, "", nil), testLogger(b)
	m.video = newFeed(sampleSource(b, "sample.h264"), true, m.log)
	goRun(b, m.run)
	viewer := loopPeer(b)
	if m.relay {
		// Relayed on both sides, over TLS: pion's viewer otherwise waits
		// 2 s before it accepts a pair with a relayed candidate.
		viewer.ForceTURN, viewer.TURNTransport = true, "tcp"
	}
	measureTTFF(b, r, viewer)
}

// cMaster answers viewers as the KVS WebRTC C SDK's master does: it
// trickles its candidates only when the offer carries
// "a=ice-options:trickle", and otherwise sends its answer once its ICE
// gathering has ended, every candidate in it. It dials every TCP TURN URI
// with TLS (allTLSDialer). It sends the H.264 sample, from a key frame, and
// a key frame again on a picture loss indication.
type cMaster struct {
	relay         bool // relay only (ICETransportPolicyRelay)
	ignoreTrickle bool // hold the answer until gathering ends, whatever the offer says

	api   *webrtc.API
	sc    *SignalingClient
	log   *slog.Logger
	video *feed
	pcs   map[string]*webrtc.PeerConnection
	early map[string][]webrtc.ICECandidateInit // candidates before the offer
}

func (m *cMaster) run(ctx context.Context) error {
	m.pcs = map[string]*webrtc.PeerConnection{}
	m.early = map[string][]webrtc.ICECandidateInit{}
	defer func() {
		for _, pc := range m.pcs {
			_ = pc.Close()
		}
	}()
	go m.video.run(ctx)
	go func() { _ = m.sc.Run(ctx) }()
	for msg := range m.sc.Messages() {
		switch msg.Type {
		case SDPOffer:
			if err := m.answer(ctx, msg); err != nil {
				m.log.Warn("c master: answer failed", "err", err)
			}
		case ICECandidate:
			c, err := msg.ICECandidateInit()
			if err != nil {
				continue
			}
			if pc := m.pcs[msg.SenderClientID]; pc != nil {
				_ = pc.AddICECandidate(c)
			} else {
				// Held for the offer, as the C SDK does.
				m.early[msg.SenderClientID] = append(m.early[msg.SenderClientID], c)
			}
		}
	}
	return nil
}

func (m *cMaster) answer(ctx context.Context, msg Message) error {
	offer, err := msg.SessionDescription()
	if err != nil {
		return err
	}
	viewer := msg.SenderClientID
	servers, err := m.sc.ICEServers(ctx)
	if err != nil {
		return err
	}
	conf := webrtc.Configuration{ICEServers: WebRTCICEServers("", servers)}
	if m.relay {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := m.api.NewPeerConnection(conf)
	if err != nil {
		return err
	}
	if old := m.pcs[viewer]; old != nil {
		_ = old.Close()
	}
	m.pcs[viewer] = pc
	tl, err := webrtc.NewTrackLocalStaticSample(trackCodec(webrtc.MimeTypeH264), "video", "cmaster")
	if err != nil {
		return err
	}
	tr := &boundTrack{TrackLocalStaticSample: tl}
	tr.onBind = func() { m.video.subscribe(tr) }
	sender, err := pc.AddTrack(tr)
	if err != nil {
		return err
	}
	// A key frame on picture loss, as our Master sends.
	go readRTCP(sender, func() { m.video.replay(tr) })
	trickle := !m.ignoreTrickle && strings.Contains(offer.SDP, "a=ice-options:trickle")
	if trickle {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				_ = m.sc.SendICECandidate(ctx, viewer, c.ToJSON())
			}
		})
	}
	if err := pc.SetRemoteDescription(offer); err != nil {
		return err
	}
	for _, c := range m.early[viewer] {
		_ = pc.AddICECandidate(c)
	}
	delete(m.early, viewer)
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	if !trickle {
		<-gathered
	}
	return m.sc.SendSessionDescription(ctx, viewer, *pc.LocalDescription())
}

// allTLSDialer opens TLS for every TCP TURN URI, turn: or turns:, as the
// KVS WebRTC C SDK does, and gives a handshake up to the SDK's gathering
// timeout.
type allTLSDialer struct{ roots *x509.CertPool }

func (d allTLSDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cSDKGatherTimeout)
	defer cancel()
	host, _, _ := net.SplitHostPort(addr)
	td := tls.Dialer{Config: &tls.Config{RootCAs: d.roots, ServerName: host, MinVersion: tls.VersionTLS12}}
	return td.DialContext(ctx, network, addr)
}
