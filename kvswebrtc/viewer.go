package kvswebrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// DataChannelLabel is the label of the data channel the Viewer opens (the
// one the KVS samples use).
const DataChannelLabel = "kvsDataChannel"

// RTPWriter stores received RTP packets, e.g. pion's h264writer,
// h265writer, ivfwriter and oggwriter.
type RTPWriter interface {
	WriteRTP(p *rtp.Packet) error
	Close() error
}

// ErrPeerFailed is returned by Viewer.Run when the connection to the
// master failed (ICE found no working pair, or it broke down).
var ErrPeerFailed = errors.New("kvswebrtc: peer connection failed")

// ViewerConfig configures a Viewer.
type ViewerConfig struct {
	// Signaling is a client for the channel with role VIEWER; the Viewer
	// runs it. Required.
	Signaling *SignalingClient
	// Peer configures the PeerConnection.
	Peer PeerConfig
	// VideoCodec, when set (e.g. webrtc.MimeTypeH265), is the only video
	// codec offered; by default all of pion's are.
	VideoCodec string
	// NoAudio and NoVideo leave those transceivers out of the offer.
	NoAudio, NoVideo bool
	// NoDataChannel leaves the data channel out.
	NoDataChannel bool
	// VideoOut and AudioOut, when set, receive the RTP packets; the Viewer
	// closes them when Run returns.
	VideoOut, AudioOut RTPWriter
	// MaxFrames, when set, ends Run (with a nil error) once that many
	// video frames have arrived.
	MaxFrames uint64
	// StatsInterval is how often statistics are logged. Defaults to 10 s;
	// negative: never.
	StatsInterval time.Duration
	// Logger receives the Viewer's events. Defaults to discarding them.
	Logger *slog.Logger
}

// ViewerStats are the Viewer's figures.
type ViewerStats struct {
	// Started is when Run began; Connected when the PeerConnection
	// reached "connected"; FirstFrame when the first decodable video
	// frame arrived: the last packet (RTP marker bit) of a frame holding
	// a key frame (H.264/H.265 IDR/IRAP slice or parameter sets, VP8 key
	// frame; any frame for other codecs). Zero until they happen.
	Started, Connected, FirstFrame time.Time
	// VideoCodec and AudioCodec are the MIME types received.
	VideoCodec, AudioCodec string
	// Packet, frame and byte counts of what was received.
	VideoPackets, VideoFrames, VideoBytes uint64
	AudioPackets, AudioBytes              uint64
	// PLIs counts the picture loss indications sent to get a key frame.
	PLIs int
	// Echoes counts data-channel messages that came back.
	Echoes int
	// CandidatePair describes the selected ICE pair.
	CandidatePair string
}

// TimeToFirstFrame is FirstFrame - Started, or 0 before the first frame.
func (s ViewerStats) TimeToFirstFrame() time.Duration {
	if s.FirstFrame.IsZero() {
		return 0
	}
	return s.FirstFrame.Sub(s.Started)
}

// Viewer is the viewer side of a channel: it offers to the master,
// receives its video and audio, and exchanges data-channel messages.
type Viewer struct {
	cfg ViewerConfig
	sc  *SignalingClient
	log *slog.Logger
	api *webrtc.API

	firstFrame chan struct{}
	firstAudio chan struct{}
	connected  chan struct{}
	echo       chan struct{}
	dcOpen     chan struct{}
	out        chan OutgoingMessage

	// pcMu serializes GetStats and Close; lastPair is the pair last seen.
	pcMu     sync.Mutex
	pcClosed bool
	lastPair string

	mu     sync.Mutex
	stats  ViewerStats
	stop   context.CancelFunc // ends Run
	enough bool               // MaxFrames reached
	failed error              // the PeerConnection failed
	ended  bool               // Run has returned: callbacks stay quiet
	pc     *webrtc.PeerConnection
	dc     *webrtc.DataChannel
	cands  candidateBuffer
	once   struct{ first, audio, conn, echo, open sync.Once }
}

// NewViewer returns a Viewer for cfg; Run starts it.
func NewViewer(cfg ViewerConfig) (*Viewer, error) {
	if cfg.Signaling == nil || cfg.Signaling.cfg.Channel.Role != RoleViewer {
		return nil, errors.New("kvswebrtc: ViewerConfig.Signaling must be a VIEWER signaling client")
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
	return &Viewer{
		cfg:        cfg,
		sc:         cfg.Signaling,
		log:        cfg.Logger.With("component", "viewer", "client", cfg.Signaling.cfg.ClientID),
		api:        api,
		firstFrame: make(chan struct{}),
		firstAudio: make(chan struct{}),
		connected:  make(chan struct{}),
		echo:       make(chan struct{}),
		dcOpen:     make(chan struct{}),
		out:        make(chan OutgoingMessage, 64),
	}, nil
}

// FirstFrame is closed when the first complete video frame has arrived.
func (v *Viewer) FirstFrame() <-chan struct{} { return v.firstFrame }

// FirstAudio is closed when the first audio packet has arrived.
func (v *Viewer) FirstAudio() <-chan struct{} { return v.firstAudio }

// Connected is closed when the PeerConnection is connected.
func (v *Viewer) Connected() <-chan struct{} { return v.connected }

// DataChannelOpen is closed when the data channel is open.
func (v *Viewer) DataChannelOpen() <-chan struct{} { return v.dcOpen }

// Echoed is closed when a data-channel message has come back.
func (v *Viewer) Echoed() <-chan struct{} { return v.echo }

// Stats returns the current figures.
func (v *Viewer) Stats() ViewerStats {
	v.mu.Lock()
	s, pc := v.stats, v.pc
	v.mu.Unlock()
	// pion's GetStats races with Close: never both at once.
	v.pcMu.Lock()
	defer v.pcMu.Unlock()
	if pc != nil && !v.pcClosed {
		v.lastPair = selectedPair(pc.GetStats())
	}
	s.CandidatePair = v.lastPair
	return s
}

// SendData sends text on the data channel once it is open.
func (v *Viewer) SendData(text string) error {
	v.mu.Lock()
	dc := v.dc
	v.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return errors.New("kvswebrtc: data channel not open")
	}
	return dc.SendText(text)
}

// Run connects, offers and receives until ctx ends; then it closes the
// PeerConnection and the writers and returns ctx's error. It returns
// earlier with nil once MaxFrames frames have arrived, with ErrPeerFailed
// if the PeerConnection fails, or with the error that keeps the
// connection from being set up.
func (v *Viewer) Run(ctx context.Context) error {
	v.mu.Lock()
	v.stats.Started = time.Now()
	v.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v.mu.Lock()
	v.stop = cancel
	v.mu.Unlock()
	runErr := make(chan error, 1)
	go func() { runErr <- v.sc.Run(ctx) }()
	var wg sync.WaitGroup
	defer func() {
		cancel()
		v.mu.Lock()
		pc := v.pc
		v.mu.Unlock()
		if pc != nil {
			v.pcMu.Lock()
			v.lastPair = selectedPair(pc.GetStats())
			v.pcClosed = true
			_ = pc.Close()
			v.pcMu.Unlock()
		}
		v.mu.Lock()
		v.ended = true
		v.mu.Unlock()
		wg.Wait()
		for _, w := range []RTPWriter{v.cfg.VideoOut, v.cfg.AudioOut} {
			if w != nil {
				_ = w.Close()
			}
		}
	}()
	if err := v.offer(ctx, &wg); err != nil {
		cancel()
		<-runErr
		return err
	}
	wg.Go(func() { v.sendLoop(ctx) })
	if v.cfg.StatsInterval > 0 {
		wg.Go(func() { v.logStats(ctx) })
	}
	for msg := range v.sc.Messages() {
		v.handle(msg)
	}
	err := <-runErr
	v.mu.Lock()
	enough, failed := v.enough, v.failed
	v.mu.Unlock()
	switch {
	case enough:
		return nil
	case failed != nil:
		return failed
	}
	return err
}

func (v *Viewer) offer(ctx context.Context, wg *sync.WaitGroup) error {
	conf, err := iceConfig(ctx, v.sc, v.cfg.Peer, v.log)
	if err != nil {
		return err
	}
	pc, err := v.api.NewPeerConnection(conf)
	if err != nil {
		return fmt.Errorf("kvswebrtc: new peer connection: %w", err)
	}
	v.mu.Lock()
	v.pc = pc
	v.mu.Unlock()
	if !v.cfg.NoVideo {
		tr, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			return fmt.Errorf("kvswebrtc: video transceiver: %w", err)
		}
		if v.cfg.VideoCodec != "" {
			var keep []webrtc.RTPCodecParameters
			for _, c := range tr.Receiver().GetParameters().Codecs {
				if strings.EqualFold(c.MimeType, v.cfg.VideoCodec) || strings.EqualFold(c.MimeType, "video/rtx") {
					keep = append(keep, c)
				}
			}
			if len(keep) == 0 {
				return fmt.Errorf("kvswebrtc: video codec %q not supported", v.cfg.VideoCodec)
			}
			if err := tr.SetCodecPreferences(keep); err != nil {
				return fmt.Errorf("kvswebrtc: video codec %s: %w", v.cfg.VideoCodec, err)
			}
		}
	}
	if !v.cfg.NoAudio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fmt.Errorf("kvswebrtc: audio transceiver: %w", err)
		}
	}
	if !v.cfg.NoDataChannel {
		dc, err := pc.CreateDataChannel(DataChannelLabel, nil)
		if err != nil {
			return fmt.Errorf("kvswebrtc: data channel: %w", err)
		}
		dc.OnOpen(func() { v.once.open.Do(func() { close(v.dcOpen) }) })
		dc.OnMessage(func(webrtc.DataChannelMessage) {
			v.mu.Lock()
			v.stats.Echoes++
			v.mu.Unlock()
			v.once.echo.Do(func() { close(v.echo) })
		})
		v.mu.Lock()
		v.dc = dc
		v.mu.Unlock()
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Go(func() { v.receive(pc, t) })
	})
	var gate sdpGate
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		msg := OutgoingMessage{Action: ICECandidate, Payload: candidatePayload(c.ToJSON())}
		if !gate.hold(msg) {
			v.queue(ctx, msg)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.mu.Lock()
		if !v.ended {
			v.log.Info("connection to master", "state", s.String())
		}
		v.mu.Unlock()
		if s == webrtc.PeerConnectionStateFailed {
			v.mu.Lock()
			if v.failed == nil && !v.enough {
				v.failed = ErrPeerFailed
				v.stop()
			}
			v.mu.Unlock()
		}
		if s == webrtc.PeerConnectionStateConnected {
			v.mu.Lock()
			v.stats.Connected = time.Now()
			v.mu.Unlock()
			v.once.conn.Do(func() { close(v.connected) })
		}
	})
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{OfferAnswerOptions: trickleOptions})
	if err != nil {
		return fmt.Errorf("kvswebrtc: create offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("kvswebrtc: set offer: %w", err)
	}
	v.queue(ctx, OutgoingMessage{Action: SDPOffer, Payload: sdpPayload(*pc.LocalDescription())})
	for _, msg := range gate.open() {
		v.queue(ctx, msg)
	}
	return nil
}

func (v *Viewer) queue(ctx context.Context, msg OutgoingMessage) {
	select {
	case v.out <- msg:
	case <-ctx.Done():
	}
}

func (v *Viewer) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-v.out:
			if err := v.sc.Send(ctx, msg); err != nil && ctx.Err() == nil {
				v.log.Warn("signaling send failed", "action", msg.Action, "err", err)
			}
		}
	}
}

func (v *Viewer) handle(msg Message) {
	v.mu.Lock()
	pc := v.pc
	v.mu.Unlock()
	switch msg.Type {
	case SDPAnswer:
		sd, err := msg.SessionDescription()
		if err != nil {
			v.log.Warn("bad answer dropped", "err", err)
			return
		}
		if pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			v.log.Debug("answer ignored", "state", pc.SignalingState().String())
			return
		}
		if err := pc.SetRemoteDescription(sd); err != nil {
			v.log.Warn("cannot apply answer", "err", err)
			return
		}
		v.mu.Lock()
		err = v.cands.flush(pc)
		v.mu.Unlock()
		if err != nil {
			v.log.Debug("remote candidate refused", "err", err)
		}
	case ICECandidate:
		c, err := msg.ICECandidateInit()
		if err != nil {
			v.log.Warn("bad candidate dropped", "err", err)
			return
		}
		v.mu.Lock()
		err = v.cands.add(pc, c)
		v.mu.Unlock()
		if err != nil {
			v.log.Debug("remote candidate refused", "err", err)
		}
	case StatusResponseType:
		v.log.Warn("signaling refused a message", "err", msg.Status)
	case ReconnectICEServer:
		v.log.Info("signaling asked to refresh the ICE servers")
	}
}

// receive counts (and stores) one remote track's packets.
func (v *Viewer) receive(pc *webrtc.PeerConnection, t *webrtc.TrackRemote) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	mime := t.Codec().MimeType
	v.mu.Lock()
	if video {
		v.stats.VideoCodec = mime
	} else {
		v.stats.AudioCodec = mime
	}
	v.mu.Unlock()
	w := v.cfg.AudioOut
	if video {
		w = v.cfg.VideoOut
	}
	if cs, ok := w.(codecSetter); ok {
		if err := cs.SetCodec(mime); err != nil {
			v.log.Warn("cannot store received media", "err", err)
			w = nil
		}
	}
	var (
		frameKey bool      // the frame being received holds a key frame
		decoding bool      // a key frame has arrived
		lastPLI  time.Time // when a key frame was last asked for
	)
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if w != nil {
			if err := w.WriteRTP(p); err != nil {
				v.log.Warn("writing received media failed: stop writing", "err", err)
				w = nil
			}
		}
		if !video {
			v.mu.Lock()
			v.stats.AudioPackets++
			v.stats.AudioBytes += uint64(len(p.Payload))
			v.mu.Unlock()
			v.once.audio.Do(func() { close(v.firstAudio) })
			continue
		}
		frameKey = frameKey || isKeyPayload(mime, p.Payload)
		if !decoding && time.Since(lastPLI) >= pliInterval {
			// Joined mid-stream: ask the master for a key frame, as
			// browsers do.
			lastPLI = time.Now()
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
			v.mu.Lock()
			v.stats.PLIs++
			v.mu.Unlock()
		}
		first := false
		v.mu.Lock()
		v.stats.VideoPackets++
		v.stats.VideoBytes += uint64(len(p.Payload))
		if p.Marker {
			v.stats.VideoFrames++
			if n := v.cfg.MaxFrames; n > 0 && v.stats.VideoFrames >= n && !v.enough {
				v.enough = true
				v.stop()
			}
			if !decoding && frameKey {
				decoding, first = true, true
				v.stats.FirstFrame = time.Now()
			}
			frameKey = false
		}
		v.mu.Unlock()
		if first {
			v.once.first.Do(func() { close(v.firstFrame) })
		}
	}
}

// pliInterval spaces the Viewer's requests for a key frame.
const pliInterval = 200 * time.Millisecond

func (v *Viewer) logStats(ctx context.Context) {
	t := time.NewTicker(v.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := v.Stats()
		v.log.Info("viewer stats", "video", s.VideoCodec, "video_packets", s.VideoPackets, "video_frames", s.VideoFrames,
			"audio", s.AudioCodec, "audio_packets", s.AudioPackets, "echoes", s.Echoes, "pair", s.CandidatePair,
			"time_to_first_frame", s.TimeToFirstFrame())
	}
}

// isKeyPayload reports whether an RTP payload carries (the start of) a
// key frame or its parameter sets: H.264 (RFC 6184) single NAL, STAP-A
// or FU-A; H.265 (RFC 7798) single NAL, AP or FU; VP8 (RFC 7741). It is
// true for other codecs, which it does not look into.
func isKeyPayload(mime string, b []byte) bool {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeH264):
		if len(b) < 2 {
			return false
		}
		t := b[0] & 0x1f
		switch {
		case t == 24: // STAP-A
			for i := 1; i+2 < len(b); {
				n := int(b[i])<<8 | int(b[i+1])
				if i+2 < len(b) {
					if nt := b[i+2] & 0x1f; nt == 5 || nt == 7 {
						return true
					}
				}
				i += 2 + n
			}
		case t == 28: // FU-A
			return b[1]&0x80 != 0 && b[1]&0x1f == 5
		default:
			return t == 5 || t == 7
		}
	case strings.ToLower(webrtc.MimeTypeH265):
		if len(b) < 3 {
			return false
		}
		t := (b[0] >> 1) & 0x3f
		switch {
		case t == 48: // AP
			for i := 2; i+2 < len(b); {
				n := int(b[i])<<8 | int(b[i+1])
				if nt := (b[i+2] >> 1) & 0x3f; (nt >= 16 && nt <= 23) || (nt >= 32 && nt <= 34) {
					return true
				}
				i += 2 + n
			}
		case t == 49: // FU
			return len(b) > 2 && b[2]&0x80 != 0 && b[2]&0x3f >= 16 && b[2]&0x3f <= 23
		default:
			return (t >= 16 && t <= 23) || (t >= 32 && t <= 34)
		}
	case strings.ToLower(webrtc.MimeTypeVP8):
		if len(b) < 2 {
			return false
		}
		// RFC 7741 §4.2: skip the payload descriptor, then the VP8 frame
		// tag's P bit is 0 for a key frame.
		i := 1
		if b[0]&0x80 != 0 { // X
			x := b[1]
			i++
			if x&0x80 != 0 { // I
				if i < len(b) && b[i]&0x80 != 0 {
					i++
				}
				i++
			}
			if x&0x40 != 0 { // L
				i++
			}
			if x&0x30 != 0 { // T or K
				i++
			}
		}
		return b[0]&0x10 != 0 && i < len(b) && b[i]&1 == 0
	}
	return true
}
