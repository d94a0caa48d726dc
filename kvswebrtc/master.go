package kvswebrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// DefaultStatsInterval is how often Master and Viewer log statistics.
const DefaultStatsInterval = 10 * time.Second

// MasterConfig configures a Master.
type MasterConfig struct {
	// Signaling is a client for the channel with role MASTER; the Master
	// runs it. Required.
	Signaling *SignalingClient
	// Peer configures the PeerConnections.
	Peer PeerConfig
	// Video and Audio are the media sent to every viewer; either may be
	// nil. Use Loop for sample files.
	Video, Audio Source
	// StatsInterval is how often per-viewer statistics are logged.
	// Defaults to 10 s; negative: never.
	StatsInterval time.Duration
	// Logger receives the Master's events. Defaults to discarding them.
	Logger *slog.Logger
}

// Master is the camera side of a channel, like the KVS C SDK's
// kvsWebrtcClientMaster: it answers every viewer's offer with its own
// PeerConnection (any number of viewers at once), trickles ICE candidates
// both ways, sends the video and audio sources to all viewers, and echoes
// whatever viewers send on data channels.
type Master struct {
	cfg   MasterConfig
	sc    *SignalingClient
	log   *slog.Logger
	api   *webrtc.API
	video *feed
	audio *feed

	mu      sync.Mutex
	peers   map[string]*masterPeer
	pending map[string][]webrtc.ICECandidateInit // candidates before the offer
	ended   bool                                 // Run has returned: callbacks stay quiet
}

// masterPeer is the PeerConnection of one viewer.
type masterPeer struct {
	id     string
	pc     *webrtc.PeerConnection
	cands  candidateBuffer
	out    chan OutgoingMessage
	cancel context.CancelFunc
	tracks []*boundTrack
	// pcMu serializes GetStats and Close, which race in pion.
	pcMu   sync.Mutex
	closed bool
}

// stats returns pc's report, or nil once it is closed.
func (p *masterPeer) stats() webrtc.StatsReport {
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	if p.closed {
		return nil
	}
	return p.pc.GetStats()
}

func (p *masterPeer) close() {
	p.pcMu.Lock()
	defer p.pcMu.Unlock()
	p.closed = true
	_ = p.pc.Close()
}

// NewMaster returns a Master for cfg; Run starts it.
func NewMaster(cfg MasterConfig) (*Master, error) {
	if cfg.Signaling == nil || cfg.Signaling.cfg.Channel.Role != RoleMaster {
		return nil, errors.New("kvswebrtc: MasterConfig.Signaling must be a MASTER signaling client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Peer.Logger == nil {
		cfg.Peer.Logger = cfg.Logger
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	api, err := newAPI(cfg.Peer, cfg.Signaling.turn)
	if err != nil {
		return nil, err
	}
	m := &Master{
		cfg:     cfg,
		sc:      cfg.Signaling,
		log:     cfg.Logger.With("component", "master"),
		api:     api,
		peers:   map[string]*masterPeer{},
		pending: map[string][]webrtc.ICECandidateInit{},
	}
	if cfg.Video != nil {
		m.video = newFeed(cfg.Video, true, m.log)
	}
	if cfg.Audio != nil {
		m.audio = newFeed(cfg.Audio, false, m.log)
	}
	return m, nil
}

// Run connects to the channel and serves viewers until ctx ends. It
// returns an error if the first signaling connection fails, else ctx's
// error.
func (m *Master) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range []*feed{m.video, m.audio} {
		if f != nil {
			// Not waited for: a live Source may block in NextFrame (a
			// pipe) past ctx; its feed ends at its next frame.
			go f.run(ctx)
		}
	}
	if m.cfg.StatsInterval > 0 {
		wg.Go(func() { m.logStats(ctx) })
	}
	runErr := make(chan error, 1)
	go func() { runErr <- m.sc.Run(ctx) }()
	defer m.closeAll()
	for msg := range m.sc.Messages() {
		m.handle(ctx, msg)
	}
	return <-runErr
}

func (m *Master) handle(ctx context.Context, msg Message) {
	switch msg.Type {
	case SDPOffer:
		sd, err := msg.SessionDescription()
		if err != nil || msg.SenderClientID == "" {
			m.log.Warn("bad offer dropped", "viewer", msg.SenderClientID, "err", err)
			return
		}
		if err := m.answer(ctx, msg.SenderClientID, sd); err != nil {
			m.log.Warn("cannot answer viewer", "viewer", msg.SenderClientID, "err", err)
		}
	case ICECandidate:
		c, err := msg.ICECandidateInit()
		if err != nil {
			m.log.Warn("bad candidate dropped", "viewer", msg.SenderClientID, "err", err)
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		p := m.peers[msg.SenderClientID]
		if p == nil {
			if len(m.pending[msg.SenderClientID]) < 100 {
				m.pending[msg.SenderClientID] = append(m.pending[msg.SenderClientID], c)
			}
			return
		}
		if err := p.cands.add(p.pc, c); err != nil {
			m.log.Debug("remote candidate refused", "viewer", p.id, "err", err)
		}
	case StatusResponseType:
		m.log.Warn("signaling refused a message", "err", msg.Status)
	case ReconnectICEServer:
		m.log.Info("signaling asked to refresh the ICE servers")
	}
}

// answer builds the viewer's PeerConnection (replacing an older one of the
// same viewer) and sends the answer.
func (m *Master) answer(ctx context.Context, viewer string, offer webrtc.SessionDescription) error {
	conf, err := iceConfig(ctx, m.sc, m.cfg.Peer, m.log)
	if err != nil {
		return err
	}
	pc, err := m.api.NewPeerConnection(conf)
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &masterPeer{id: viewer, pc: pc, out: make(chan OutgoingMessage, 64), cancel: cancel}
	log := m.log.With("viewer", viewer)
	fail := func(err error) error {
		cancel()
		_ = pc.Close()
		return err
	}
	for _, f := range []*feed{m.video, m.audio} {
		if f == nil {
			continue
		}
		kind := "audio"
		if f.video {
			kind = "video"
		}
		local, err := webrtc.NewTrackLocalStaticSample(trackCodec(f.src.MimeType()), kind, "openkvs")
		if err != nil {
			return fail(fmt.Errorf("%s track: %w", kind, err))
		}
		tr := &boundTrack{TrackLocalStaticSample: local}
		tr.onBind = func() { f.subscribe(tr) }
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return fail(fmt.Errorf("add %s track: %w", kind, err))
		}
		p.tracks = append(p.tracks, tr)
		go readRTCP(sender, func() { f.replay(tr) })
	}
	var gate sdpGate
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		msg := OutgoingMessage{Action: ICECandidate, RecipientClientID: viewer, Payload: candidatePayload(c.ToJSON())}
		if !gate.hold(msg) {
			p.queue(pctx, msg)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			if msg.IsString {
				_ = dc.SendText(string(msg.Data))
			} else {
				_ = dc.Send(msg.Data)
			}
		})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		m.mu.Lock()
		if !m.ended {
			log.Info("viewer connection", "state", s.String())
		}
		m.mu.Unlock()
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			m.remove(p)
		}
	})
	if err := pc.SetRemoteDescription(offer); err != nil {
		return fail(fmt.Errorf("set offer: %w", err))
	}
	ans, err := pc.CreateAnswer(&webrtc.AnswerOptions{OfferAnswerOptions: trickleOptions})
	if err != nil {
		return fail(fmt.Errorf("create answer: %w", err))
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(fmt.Errorf("set answer: %w", err))
	}
	p.queue(pctx, OutgoingMessage{Action: SDPAnswer, RecipientClientID: viewer, Payload: sdpPayload(*pc.LocalDescription())})
	for _, msg := range gate.open() {
		p.queue(pctx, msg)
	}
	go p.sendLoop(pctx, m.sc, log)

	m.mu.Lock()
	old := m.peers[viewer]
	m.peers[viewer] = p
	for _, c := range m.pending[viewer] {
		_ = p.cands.add(pc, c)
	}
	delete(m.pending, viewer)
	_ = p.cands.flush(pc)
	m.mu.Unlock()
	if old != nil {
		log.Info("viewer sent a new offer: replacing its connection")
		m.closePeer(old)
	}
	return nil
}

// trackCodec is the capability of a track sending mime. H.264 names the
// packetization mode and profile browsers match on exactly (Constrained
// Baseline, as the samples and most cameras send); the others need only
// the MIME type.
func trackCodec(mime string) webrtc.RTPCodecCapability {
	c := webrtc.RTPCodecCapability{MimeType: mime}
	if mime == webrtc.MimeTypeH264 {
		c.ClockRate = 90000
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	return c
}

// queue hands a message to the viewer's sender, in order.
func (p *masterPeer) queue(ctx context.Context, msg OutgoingMessage) {
	select {
	case p.out <- msg:
	case <-ctx.Done():
	}
}

func (p *masterPeer) sendLoop(ctx context.Context, sc *SignalingClient, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-p.out:
			if err := sc.Send(ctx, msg); err != nil {
				if ctx.Err() == nil {
					log.Warn("signaling send failed", "action", msg.Action, "err", err)
				}
			}
		}
	}
}

func (m *Master) remove(p *masterPeer) {
	m.mu.Lock()
	if m.peers[p.id] == p {
		delete(m.peers, p.id)
	}
	m.mu.Unlock()
	go m.closePeer(p)
}

func (m *Master) closePeer(p *masterPeer) {
	p.cancel()
	for _, f := range []*feed{m.video, m.audio} {
		if f != nil {
			for _, t := range p.tracks {
				f.unsubscribe(t)
			}
		}
	}
	p.close()
}

func (m *Master) closeAll() {
	m.mu.Lock()
	peers := m.peers
	m.peers = map[string]*masterPeer{}
	m.mu.Unlock()
	for _, p := range peers {
		m.closePeer(p)
	}
	m.mu.Lock()
	m.ended = true
	m.mu.Unlock()
}

// PeerStats are one viewer's figures, as the master sees them.
type PeerStats struct {
	ViewerID string
	State    webrtc.PeerConnectionState
	// FramesSent and BytesSent add up the frames (video access units and
	// audio packets) written to the viewer's tracks.
	FramesSent uint64
	BytesSent  uint64
	// CandidatePair describes the selected pair, e.g. "host/udp ->
	// host/udp" or "relay/udp -> host/udp".
	CandidatePair string
}

// Stats returns the figures of every connected viewer, by viewer id.
func (m *Master) Stats() []PeerStats {
	m.mu.Lock()
	peers := make([]*masterPeer, 0, len(m.peers))
	for _, p := range m.peers {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	out := make([]PeerStats, 0, len(peers))
	for _, p := range peers {
		s := PeerStats{ViewerID: p.id, State: p.pc.ConnectionState()}
		for _, t := range p.tracks {
			s.FramesSent += t.frames.Load()
			s.BytesSent += t.bytes.Load()
		}
		s.CandidatePair = selectedPair(p.stats())
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ViewerID < out[j].ViewerID })
	return out
}

func (m *Master) logStats(ctx context.Context) {
	t := time.NewTicker(m.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range m.Stats() {
			m.log.Info("viewer stats", "viewer", s.ViewerID, "state", s.State.String(),
				"frames_sent", s.FramesSent, "bytes_sent", s.BytesSent, "pair", s.CandidatePair)
		}
	}
}

// selectedPair describes the nominated candidate pair of a stats report.
func selectedPair(r webrtc.StatsReport) string {
	for _, v := range r {
		p, ok := v.(webrtc.ICECandidatePairStats)
		if !ok || !p.Nominated || p.State != webrtc.StatsICECandidatePairStateSucceeded {
			continue
		}
		l, lok := r[p.LocalCandidateID].(webrtc.ICECandidateStats)
		rc, rok := r[p.RemoteCandidateID].(webrtc.ICECandidateStats)
		if !lok || !rok {
			continue
		}
		return describeCandidate(l) + " -> " + describeCandidate(rc)
	}
	return ""
}

// describeCandidate is "type/protocol", with the protocol to the TURN
// server for relayed candidates: "relay/udp(tcp)".
func describeCandidate(c webrtc.ICECandidateStats) string {
	s := c.CandidateType.String() + "/" + c.Protocol
	if c.RelayProtocol != "" {
		s += "(" + c.RelayProtocol + ")"
	}
	return s
}

// minReplayGap spaces the key-frame replays one viewer's PLIs ask for.
const minReplayGap = 300 * time.Millisecond

// readRTCP reads a sender's RTCP, so that the interceptors (NACK, reports)
// run, and calls keyFrame on a picture loss indication or full intra
// request.
func readRTCP(s *webrtc.RTPSender, keyFrame func()) {
	var last time.Time
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if now := time.Now(); now.Sub(last) >= minReplayGap {
					last = now
					keyFrame()
				}
			}
		}
	}
}
