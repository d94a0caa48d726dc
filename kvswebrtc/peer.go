package kvswebrtc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/openkvs/openkvs/internal/pionlog"
)

// PeerConfig is what the Master and the Viewer share about their
// PeerConnections.
type PeerConfig struct {
	// STUNURL is added before the TURN servers. Defaults to
	// DefaultSTUNURL(Region) against AWS; set it to "-" for none (e.g.
	// against openkvs, whose GetIceServerConfig lists its own STUN URI).
	STUNURL string
	// ForceTURN relays all media through TURN (ICETransportPolicyRelay).
	ForceTURN bool
	// TURNTransport keeps only TURN URIs of that transport ("udp" or
	// "tcp"); empty keeps all.
	TURNTransport string
	// NoTURN skips GetIceServerConfig (host and STUN candidates only).
	NoTURN bool
	// LoopbackOnly restricts ICE to 127.0.0.1 over UDP and TCP without
	// mDNS: for tests and single-machine use.
	LoopbackOnly bool
	// Logger receives pion's messages. Defaults to the Master's or
	// Viewer's Logger.
	Logger *slog.Logger
}

// trickleOptions puts "a=ice-options:trickle" into our offers and answers
// (RFC 8840). Both sides always trickle their candidates; a peer that does
// not see the option in the remote description may wait for its own
// gathering to finish before it answers: the KVS WebRTC C SDK master does,
// and its gathering takes up to its 10 s timeout when a TURN server is slow
// to answer.
var trickleOptions = webrtc.OfferAnswerOptions{ICETricklingSupported: true}

// tcpDialer opens the TCP (or TLS) connection to a TURN server; pion's ICE
// agent takes it as its proxy dialer.
type tcpDialer interface {
	Dial(network, addr string) (net.Conn, error)
}

// newAPI builds a webrtc.API with the default codecs (H.264, H.265, VP8,
// VP9, AV1, Opus, ...), the default interceptors (NACK, RTCP reports,
// stats) and the ICE restrictions of cfg. TURN over TCP and TLS goes
// through dialer, when not nil.
func newAPI(cfg PeerConfig, dialer tcpDialer) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("kvswebrtc: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("kvswebrtc: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: pionlog.New(cfg.Logger)}
	if cfg.LoopbackOnly {
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetIncludeLoopbackCandidate(true)
	}
	if dialer != nil {
		se.SetICEProxyDialer(dialer)
	}
	if cfg.ForceTURN {
		// Only relay candidates exist: no use waiting for better ones
		// (pion waits 2 s before it accepts a relayed pair).
		se.SetRelayAcceptanceMinWait(0)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// iceConfig returns the webrtc.Configuration for one PeerConnection: STUN
// plus the channel's TURN servers (fetched with sc unless cfg.NoTURN).
func iceConfig(ctx context.Context, sc *SignalingClient, cfg PeerConfig, log *slog.Logger) (webrtc.Configuration, error) {
	var conf webrtc.Configuration
	stun := cfg.STUNURL
	switch stun {
	case "":
		stun = DefaultSTUNURL(sc.cfg.Region)
	case "-":
		stun = ""
	}
	var servers []ICEServer
	if !cfg.NoTURN {
		var err error
		servers, err = sc.ICEServers(ctx)
		if err != nil {
			if cfg.ForceTURN {
				return conf, err
			}
			log.Warn("GetIceServerConfig failed: no TURN", "err", err)
		}
	}
	servers = filterTURN(servers, cfg.TURNTransport)
	sc.turn.register(servers)
	conf.ICEServers = WebRTCICEServers(stun, servers)
	if cfg.ForceTURN {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return conf, nil
}

// filterTURN keeps the stun: URIs and the turn(s): URIs of transport.
func filterTURN(servers []ICEServer, transport string) []ICEServer {
	if transport == "" {
		return servers
	}
	var out []ICEServer
	for _, s := range servers {
		var uris []string
		for _, u := range s.URIs {
			if strings.HasPrefix(u, "stun:") || strings.HasSuffix(u, "transport="+transport) ||
				(transport == "udp" && strings.HasPrefix(u, "turn:") && !strings.Contains(u, "transport=")) {
				uris = append(uris, u)
			}
		}
		if len(uris) > 0 {
			s.URIs = uris
			out = append(out, s)
		}
	}
	return out
}

// sdpGate holds the local candidates pion reports before our offer or
// answer is queued: pion gathers from SetLocalDescription on, and a
// candidate that overtakes the description is lost on a peer that drops
// candidates of a session it does not know yet (or refuses them before
// the remote description, as browsers do).
type sdpGate struct {
	mu     sync.Mutex
	opened bool
	held   []OutgoingMessage
}

// hold keeps msg and reports true while the gate is closed.
func (g *sdpGate) hold(msg OutgoingMessage) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return false
	}
	g.held = append(g.held, msg)
	return true
}

// open lets later candidates through and returns the held ones, to be
// queued after the description.
func (g *sdpGate) open() []OutgoingMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = true
	held := g.held
	g.held = nil
	return held
}

// candidateBuffer holds remote candidates that arrive before the remote
// description.
type candidateBuffer struct {
	pending []webrtc.ICECandidateInit
	ready   bool
}

// add adds c to pc now or once the remote description is set.
func (b *candidateBuffer) add(pc *webrtc.PeerConnection, c webrtc.ICECandidateInit) error {
	if !b.ready {
		b.pending = append(b.pending, c)
		return nil
	}
	return pc.AddICECandidate(c)
}

// flush adds the pending candidates after the remote description is set.
func (b *candidateBuffer) flush(pc *webrtc.PeerConnection) error {
	b.ready = true
	for _, c := range b.pending {
		if err := pc.AddICECandidate(c); err != nil {
			return err
		}
	}
	b.pending = nil
	return nil
}
