package kvswebrtc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// Defaults of SignalingConfig.
const (
	DefaultPingInterval = 10 * time.Second
	DefaultMinBackoff   = 200 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultURLExpiry    = 5 * time.Minute
	// KVS' per-connection limits, which Send respects by waiting.
	DefaultSDPRate = 5
	DefaultICERate = 20
)

// ErrClosed is returned by Send once Run has ended.
var ErrClosed = errors.New("kvswebrtc: signaling client closed")

// ErrReplaced is returned by Run when the service closed the connection
// because another one with the same client id (or a second master)
// connected: reconnecting would only push that one out in turn.
var ErrReplaced = errors.New("kvswebrtc: signaling connection replaced by a newer one")

// SignalingConfig configures a SignalingClient.
type SignalingConfig struct {
	// Channel is the discovered channel (see Discover); its Role decides
	// whether the client connects as master or viewer. Required.
	Channel *Channel
	// ControlPlane, when set, is used to discover the channel's endpoints
	// again before reconnecting after GO_AWAY, as the KVS C SDK does.
	ControlPlane ControlPlane
	// ClientID is the viewer's X-Amz-ClientId (1 to 256 of
	// [a-zA-Z0-9_.-]). Required for viewers; for a master it is only
	// used as the ClientId of GetIceServerConfig (default "MASTER").
	ClientID string
	// Region signs the URL and GetIceServerConfig. Required.
	Region string
	// Credentials sign every request. Required.
	Credentials aws.CredentialsProvider
	// HTTPClient dials the WebSocket (over HTTP/1.1 with the client's TLS
	// settings, e.g. an AWS_CA_BUNDLE) and sends GetIceServerConfig.
	// Defaults to http.DefaultClient. An aws.Config's HTTPClient fits.
	HTTPClient aws.HTTPClient
	// Logger receives connection events. Defaults to discarding them.
	Logger *slog.Logger
	// PingInterval is the WebSocket keep-alive; a ping not answered within
	// the interval drops the connection. Defaults to 10 s (the C SDK's).
	PingInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before each reconnect
	// attempt; it doubles per failed attempt. Defaults 200 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// URLExpiry is the presigned URL's X-Amz-Expires. Defaults to 5 min.
	URLExpiry time.Duration
	// SDPRate and ICERate pace Send to KVS' per-connection limits
	// (messages a second). Defaults 5 and 20; negative: no pacing.
	SDPRate, ICERate int
	// OnConnect, when set, is called after every successful connection
	// (n counts them from 1) from Run's goroutine.
	OnConnect func(n int)
	// OnDisconnect, when set, is called when a connection ends before
	// ctx does; goAway tells whether the service asked for it (GO_AWAY or
	// RECONNECT_ICE_SERVER) rather than the connection dropping.
	OnDisconnect func(goAway bool)
	// Now is the signing clock. Defaults to time.Now.
	Now func() time.Time
}

func (c *SignalingConfig) validate() error {
	switch {
	case c.Channel == nil || c.Channel.ARN == "" || c.Channel.WSSEndpoint == "":
		return errors.New("kvswebrtc: SignalingConfig.Channel with ARN and WSS endpoint is required")
	case c.Channel.Role != RoleMaster && c.Channel.Role != RoleViewer:
		return fmt.Errorf("kvswebrtc: role %q is not MASTER or VIEWER", c.Channel.Role)
	case c.Channel.Role == RoleViewer && c.ClientID == "":
		return errors.New("kvswebrtc: a viewer needs a ClientID")
	case c.Region == "":
		return errors.New("kvswebrtc: SignalingConfig.Region is required")
	case c.Credentials == nil:
		return errors.New("kvswebrtc: SignalingConfig.Credentials is required")
	}
	return nil
}

// SignalingClient is a connection to a KVS signaling channel that
// reconnects by itself: at once after GO_AWAY (discovering the endpoints
// again when it has a ControlPlane) and after RECONNECT_ICE_SERVER (with a
// fresh GetIceServerConfig), and with exponential backoff after a dropped
// connection or a failed attempt. Messages arrive on Messages; Send
// waits for a connection. Run drives it.
type SignalingClient struct {
	cfg    SignalingConfig
	log    *slog.Logger
	wsHTTP *http.Client
	msgs   chan Message
	sdp    *pacer
	ice    *pacer

	mu      sync.Mutex
	channel Channel
	conn    *websocket.Conn
	ready   chan struct{} // closed while conn is usable
	closed  bool
	done    chan struct{}
	iceList []ICEServer
	iceExp  time.Time

	// turn dials TURN over TCP and TLS for the PeerConnections of this
	// client's Master or Viewer.
	turn *turnDialer
}

// NewSignalingClient returns a client for cfg; it connects when Run is
// called.
func NewSignalingClient(cfg SignalingConfig) (*SignalingClient, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.URLExpiry <= 0 {
		cfg.URLExpiry = DefaultURLExpiry
	}
	if cfg.SDPRate == 0 {
		cfg.SDPRate = DefaultSDPRate
	}
	if cfg.ICERate == 0 {
		cfg.ICERate = DefaultICERate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Channel.Role == RoleMaster && cfg.ClientID == "" {
		cfg.ClientID = "MASTER"
	}
	return &SignalingClient{
		cfg:     cfg,
		log:     cfg.Logger.With("channel", cfg.Channel.ARN, "role", string(cfg.Channel.Role)),
		wsHTTP:  websocketHTTPClient(cfg.HTTPClient),
		turn:    newTURNDialer(cfg.HTTPClient),
		msgs:    make(chan Message, 64),
		sdp:     newPacer(cfg.SDPRate),
		ice:     newPacer(cfg.ICERate),
		channel: *cfg.Channel,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Messages delivers the SDP offers and answers, ICE candidates,
// RECONNECT_ICE_SERVER and STATUS_RESPONSE messages received, in order.
// GO_AWAY is handled by the client and not delivered. The channel is
// closed when Run returns.
func (c *SignalingClient) Messages() <-chan Message { return c.msgs }

// Channel returns the channel as last discovered.
func (c *SignalingClient) Channel() Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channel
}

// Run connects and keeps the client connected until ctx ends, then closes
// the connection and returns ctx's error. It returns early with an error
// if the first connection attempt fails, if a reconnection finds the
// channel gone (404 ResourceNotFoundException: it was deleted), or with
// ErrReplaced.
func (c *SignalingClient) Run(ctx context.Context) error {
	defer func() {
		c.mu.Lock()
		c.closed = true
		close(c.done)
		c.mu.Unlock()
		close(c.msgs)
	}()
	backoff := c.cfg.MinBackoff
	conn, err := c.dial(ctx)
	// The first connection is retried only while the service throttles
	// it (KVS allows 3 connects a second per channel and role); any other
	// first failure is the caller's to see.
	for err != nil && throttled(err) {
		c.log.Warn("signaling connect throttled", "err", err, "retry_in", backoff)
		if err := sleepCtx(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
		conn, err = c.dial(ctx)
	}
	if err != nil {
		return err
	}
	backoff = c.cfg.MinBackoff
	for n := 1; ; n++ {
		c.setConn(conn)
		if c.cfg.OnConnect != nil {
			c.cfg.OnConnect(n)
		}
		connected := time.Now()
		end := c.serve(ctx, conn)
		c.setConn(nil)
		goAway := end == endAsked
		if time.Since(connected) >= stableConnection {
			backoff = c.cfg.MinBackoff
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.cfg.OnDisconnect != nil {
			c.cfg.OnDisconnect(goAway)
		}
		if end == endReplaced {
			return ErrReplaced
		}
		if goAway && c.cfg.ControlPlane != nil {
			c.rediscover(ctx)
		}
		// A GO_AWAY reconnects at once; a dropped connection after the
		// backoff, which keeps growing while connections do not last.
		wait := time.Duration(0)
		if !goAway {
			wait = backoff
			backoff = min(2*backoff, c.cfg.MaxBackoff)
		}
		for {
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
			conn, err = c.dial(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if channelGone(err) {
				return err
			}
			c.log.Warn("signaling reconnect failed", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(2*backoff, c.cfg.MaxBackoff)
		}
	}
}

// stableConnection is how long a connection must last for the reconnect
// backoff to start again from MinBackoff.
const stableConnection = 10 * time.Second

// dialTimeout bounds one connection attempt (TCP, TLS and the upgrade).
const dialTimeout = 15 * time.Second

// dial opens one WebSocket connection with a freshly presigned URL.
func (c *SignalingClient) dial(ctx context.Context) (*websocket.Conn, error) {
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: credentials: %w", err)
	}
	ch := c.Channel()
	in := PresignInput{
		Endpoint:    ch.WSSEndpoint,
		ChannelARN:  ch.ARN,
		Region:      c.cfg.Region,
		Credentials: creds,
		Time:        c.cfg.Now(),
		Expires:     c.cfg.URLExpiry,
	}
	if ch.Role == RoleViewer {
		in.ClientID = c.cfg.ClientID
	}
	u, err := PresignURL(ctx, in)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: c.wsHTTP})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return nil, fmt.Errorf("kvswebrtc: connect %s: %w", ch.WSSEndpoint, parseAPIError(resp, data))
		}
		return nil, fmt.Errorf("kvswebrtc: connect %s: %w", ch.WSSEndpoint, err)
	}
	// A KVS message is at most 10 KB of base64 plus the envelope.
	conn.SetReadLimit(64 << 10)
	c.log.Debug("signaling connected", "endpoint", ch.WSSEndpoint)
	return conn, nil
}

// connEnd is how a connection ended.
type connEnd int

const (
	endDropped  connEnd = iota // broken, closed or ctx ended
	endAsked                   // GO_AWAY or RECONNECT_ICE_SERVER
	endReplaced                // a newer connection with the same client id took over
)

// serve reads conn until it fails or ctx ends, pinging it meanwhile, and
// says how it ended.
func (c *SignalingClient) serve(ctx context.Context, conn *websocket.Conn) connEnd {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		c.keepAlive(connCtx, conn)
	}()
	defer func() {
		cancel()
		<-pingDone
		if ctx.Err() != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "")
		} else {
			conn.CloseNow()
		}
	}()
	for {
		_, data, err := conn.Read(connCtx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Reason), "replaced") {
				c.log.Warn("signaling connection replaced by a newer one with the same client id", "reason", ce.Reason)
				return endReplaced
			}
			if ctx.Err() == nil {
				c.log.Info("signaling connection lost", "err", err)
			}
			return endDropped
		}
		m, err := DecodeMessage(data)
		if err != nil {
			c.log.Warn("signaling message dropped", "err", err)
			continue
		}
		if m.Type == GoAway {
			c.log.Info("signaling GO_AWAY: reconnecting")
			return endAsked
		}
		if m.Type == ReconnectICEServer {
			// As the KVS C SDK does: fetch the TURN servers again and
			// reconnect.
			c.mu.Lock()
			c.iceList, c.iceExp = nil, time.Time{}
			c.mu.Unlock()
		}
		select {
		case c.msgs <- m:
		case <-ctx.Done():
			return endDropped
		}
		if m.Type == ReconnectICEServer {
			c.log.Info("signaling RECONNECT_ICE_SERVER: reconnecting")
			return endAsked
		}
	}
}

func (c *SignalingClient) keepAlive(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.PingInterval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Info("signaling ping failed: dropping connection", "err", err)
				conn.CloseNow()
			}
			return
		}
	}
}

// rediscover refreshes the channel's endpoints; on failure the old ones
// stay.
func (c *SignalingClient) rediscover(ctx context.Context) {
	ch := c.Channel()
	nc, err := Discover(ctx, c.cfg.ControlPlane, DiscoverInput{ChannelARN: ch.ARN, Role: ch.Role})
	if err != nil {
		c.log.Warn("signaling endpoint discovery failed: keeping the old endpoints", "err", err)
		return
	}
	c.mu.Lock()
	c.channel = *nc
	c.mu.Unlock()
}

func (c *SignalingClient) setConn(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	if conn != nil {
		close(c.ready)
	} else {
		c.ready = make(chan struct{})
	}
}

// Send sends m once the client is connected (waiting for a reconnect if
// need be), pacing SDP and ICE messages to KVS' per-connection limits.
func (c *SignalingClient) Send(ctx context.Context, m OutgoingMessage) error {
	frame, err := m.Encode()
	if err != nil {
		return err
	}
	p := c.sdp
	if m.Action == ICECandidate {
		p = c.ice
	}
	if err := p.wait(ctx); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		conn, ready, closed, done := c.conn, c.ready, c.closed, c.done
		c.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if conn == nil {
			select {
			case <-ready:
				continue
			case <-done:
				return ErrClosed
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
			return fmt.Errorf("kvswebrtc: send %s: %w", m.Action, err)
		}
		return nil
	}
}

// SendSessionDescription sends an offer or answer to recipient (the viewer's
// id for a master; empty for a viewer).
func (c *SignalingClient) SendSessionDescription(ctx context.Context, recipient string, sd webrtc.SessionDescription) error {
	action := SDPOffer
	if sd.Type == webrtc.SDPTypeAnswer {
		action = SDPAnswer
	}
	return c.Send(ctx, OutgoingMessage{Action: action, RecipientClientID: recipient, Payload: sdpPayload(sd)})
}

// SendICECandidate sends a trickled candidate to recipient.
func (c *SignalingClient) SendICECandidate(ctx context.Context, recipient string, cand webrtc.ICECandidateInit) error {
	return c.Send(ctx, OutgoingMessage{Action: ICECandidate, RecipientClientID: recipient, Payload: candidatePayload(cand)})
}

// ICEServers returns the channel's TURN servers from GetIceServerConfig,
// cached until half their TTL has passed or the service sends
// RECONNECT_ICE_SERVER.
func (c *SignalingClient) ICEServers(ctx context.Context) ([]ICEServer, error) {
	now := c.cfg.Now()
	c.mu.Lock()
	if c.iceList != nil && now.Before(c.iceExp) {
		l := c.iceList
		c.mu.Unlock()
		return l, nil
	}
	ch := c.channel
	c.mu.Unlock()
	if ch.HTTPSEndpoint == "" {
		return nil, errors.New("kvswebrtc: channel has no HTTPS endpoint")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: credentials: %w", err)
	}
	list, err := GetICEServerConfig(ctx, ICEConfigInput{
		Endpoint:    ch.HTTPSEndpoint,
		ChannelARN:  ch.ARN,
		ClientID:    c.cfg.ClientID,
		Region:      c.cfg.Region,
		Credentials: creds,
		HTTPClient:  c.cfg.HTTPClient,
		Time:        now,
	})
	if err != nil {
		return nil, err
	}
	ttl := 300 * time.Second
	for _, s := range list {
		if s.TTL > 0 && s.TTL < ttl {
			ttl = s.TTL
		}
	}
	c.mu.Lock()
	c.iceList, c.iceExp = list, now.Add(ttl/2)
	c.mu.Unlock()
	return list, nil
}

// channelGone reports whether err is the service's answer for a channel
// that does not exist (any more).
// throttled reports whether err is the service's ClientLimitExceededException.
func throttled(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Type == "ClientLimitExceededException"
}

func channelGone(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// websocketHTTPClient returns a client for the WebSocket handshake with
// hc's TLS settings but HTTP/1.1 only (WebSocket upgrades need it).
func websocketHTTPClient(hc aws.HTTPClient) *http.Client {
	base := httpTransport(hc)
	if v, ok := hc.(*http.Client); ok && base == nil && v.Transport != nil {
		return &http.Client{Transport: v.Transport}
	}
	var t *http.Transport
	if base != nil {
		t = base.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.ForceAttemptHTTP2 = false
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Transport: t}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer spaces messages to a little under rate a second with a burst of
// half of rate, so that network jitter does not push a paced sender over
// the service's token bucket (rate a second, burst rate).
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration
	next     time.Time // when the next message may go if no burst is saved up
}

func newPacer(rate int) *pacer {
	if rate <= 0 {
		return nil
	}
	iv := time.Second * 11 / 10 / time.Duration(rate)
	return &pacer{interval: iv, burst: iv * time.Duration(max(1, rate/2))}
}

// wait blocks until a message may be sent.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-p.burst); p.next.Before(earliest) {
		p.next = earliest
	}
	p.next = p.next.Add(p.interval)
	delay := p.next.Sub(now)
	p.mu.Unlock()
	return sleepCtx(ctx, delay)
}
