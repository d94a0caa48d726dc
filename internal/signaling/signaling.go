// Package signaling serves KVS WebRTC signaling: the WebSocket endpoint
// masters and viewers connect to with a SigV4-presigned URL, the routing of
// SDP offers, answers and ICE candidates between them, the queue of messages
// for recipients not yet connected, and the signaling HTTPS API
// (GetIceServerConfig, SendAlexaOfferToMaster).
//
// The wire format follows the KVS WebRTC developer guide ("WebSocket APIs")
// and what the official C and JavaScript SDKs send and expect; see
// DecodeMessage and ServerMessage. Limits default to KVS' (10 viewers per
// channel, 3 new connections a second per channel and role, 10 KB
// messages, 5 SDP and 20 ICE messages a second per connection, 10 minutes
// idle, 1 hour per connection with a GO_AWAY one minute before the end)
// and can be lifted in Config.
//
// # Locking
//
// Service.mu guards the per-channel state (who is connected, the message
// queue, SendAlexaOfferToMaster waiters) and the per-session fields marked
// "guarded by Service.mu". Each session's wmu guards its outgoing queue
// and close request; it may be taken while holding Service.mu, never the
// other way round. Neither is held across network I/O: a message is
// appended to its recipient's queue and written by a goroutine that runs
// only while the queue is not empty, so a slow client never stalls routing
// (it is disconnected when its queue is full). Each connection's rate
// limiters belong to its reader goroutine and need no lock. In a cluster,
// cluster.mu guards the membership and is never held together with
// Service.mu; messages to other nodes may be published with Service.mu
// held (a Bus never waits for, nor calls, a subscriber in Publish).
//
// # Cluster
//
// With Config.Bus the Services of several nodes act as one: each
// channel's state lives on one owner node chosen by hashing its ARN over
// the live nodes, the other nodes register their connections there and
// send it their clients' messages, and it forwards frames to the
// recipients' nodes. Limits, the TTL queue and "the newest master wins"
// therefore hold cluster-wide. cluster.go explains the protocol; without
// a bus nothing of it runs.
package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Defaults for Config fields left zero. They are KVS' documented limits.
const (
	DefaultMaxViewers            = 10
	DefaultConnectRate           = 3
	DefaultSDPRate               = 5
	DefaultICERate               = 20
	DefaultIdleTimeout           = 10 * time.Minute
	DefaultMaxConnectionDuration = time.Hour
	DefaultGoAwayGrace           = time.Minute
	DefaultMaxFrameBytes         = 64 << 10
	DefaultPingInterval          = 30 * time.Second
	DefaultPongTimeout           = 15 * time.Second
	DefaultWriteTimeout          = 10 * time.Second
	DefaultSendQueue             = 1024
	DefaultSendQueueBytes        = 1 << 20
	DefaultMaxQueued             = 64
	DefaultAlexaTimeout          = 10 * time.Second
	DefaultAlexaRate             = 5
	DefaultSweepInterval         = time.Second
	DefaultMessageTTL            = 60 * time.Second
	DefaultICEServerTTL          = 300
)

// Limits of the KVS C SDK on a GetIceServerConfig answer.
const (
	MaxICEServers       = 5
	MaxURIsPerICEServer = 4
)

// ChannelStore is the part of catalog.Store signaling reads.
type ChannelStore interface {
	GetChannel(ctx context.Context, name string) (*catalog.Channel, error)
}

// IceServer is one entry of a GetIceServerConfig IceServerList.
type IceServer struct {
	Uris     []string `json:"Uris"`
	Username string   `json:"Username"`
	Password string   `json:"Password"`
	// Ttl is the credential's lifetime in seconds.
	Ttl int `json:"Ttl"` //nolint:revive // wire name
}

// Config configures a Service.
type Config struct {
	// Store finds signaling channels by name. Required.
	Store ChannelStore
	// ICEServers returns the TURN (and STUN) servers for GetIceServerConfig,
	// with credentials minted for clientID. The answer is cut to 5 entries
	// of 4 URIs, the KVS C SDK's limits. Nil answers an empty list (TURN
	// off).
	ICEServers func(clientID string) []IceServer

	// MaxViewers caps the viewers connected to one channel at once.
	// Default 10 (KVS); negative: no limit.
	MaxViewers int
	// ConnectRate caps new connections per second per channel, counted
	// apart for ConnectAsMaster and ConnectAsViewer; one more is refused
	// with ClientLimitExceededException (HTTP 400) before the upgrade.
	// Default 3 (KVS); negative: no limit.
	ConnectRate int
	// MaxMessageBytes caps a message's messagePayload (base64 text).
	// Default 10240 (KVS' 10 KB); negative: only MaxFrameBytes applies.
	MaxMessageBytes int
	// MaxFrameBytes caps a WebSocket frame; a larger one closes the
	// connection with status 1009. Default 64 KiB. It is raised to fit
	// MaxMessageBytes.
	MaxFrameBytes int
	// SDPRate caps SDP offers and answers per second per connection.
	// Default 5 (KVS); negative: no limit.
	SDPRate int
	// ICERate caps ICE candidates per second per connection. Default 20
	// (KVS); negative: no limit.
	ICERate int
	// IdleTimeout closes a connection that sent nothing (no message, no
	// ping) for that long. Default 10 minutes (KVS); negative: never.
	IdleTimeout time.Duration
	// MaxConnectionDuration is how long a connection may last: it gets
	// GO_AWAY GoAwayGrace before and is closed at the end. Default 1 hour
	// (KVS); negative: no limit.
	MaxConnectionDuration time.Duration
	// GoAwayGrace is the time between GO_AWAY and the close at the maximum
	// connection duration. Default 1 minute (KVS).
	GoAwayGrace time.Duration
	// PingInterval is how often the server pings each connection; a ping
	// not answered within PongTimeout closes it. Defaults 30 s and 15 s;
	// negative PingInterval: no pings.
	PingInterval, PongTimeout time.Duration
	// WriteTimeout bounds one frame's write. Default 10 s.
	WriteTimeout time.Duration
	// SendQueue and SendQueueBytes bound the outgoing frames a connection
	// may have waiting, in number and in bytes; a client that falls
	// further behind is disconnected. Defaults 1024 (at least MaxQueued+8)
	// and 1 MiB (at least MaxQueued frames of MaxFrameBytes).
	SendQueue, SendQueueBytes int
	// MaxQueued caps the messages kept for one recipient that is not
	// connected (the oldest go first). Default 64.
	MaxQueued int
	// AlexaTimeout is how long SendAlexaOfferToMaster waits for the
	// master's answer. Default 10 s.
	AlexaTimeout time.Duration
	// AlexaRate caps SendAlexaOfferToMaster calls per second per channel.
	// Default 5 (KVS); negative: no limit.
	AlexaRate int
	// SweepInterval is how often timeouts, keep-alive pings and queue
	// expiry are checked. Default 1 s.
	SweepInterval time.Duration

	// Bus, when set, makes this Service one node of a cluster: the nodes
	// on one bus share every channel's state (cluster.go). Nil: a single
	// node, nothing goes through a bus.
	Bus bus.Bus
	// NodeID names this node on the bus; unique per node. Default:
	// random.
	NodeID string
	// HeartbeatInterval is how often the node announces itself on the
	// bus; PeerTimeout is the silence after which another node counts as
	// gone and its channels move. Defaults 1 s and 5 s.
	HeartbeatInterval, PeerTimeout time.Duration
	// BusTimeout bounds a request to another node. Default 5 s.
	BusTimeout time.Duration

	// Now is the clock of every timeout, rate limit and message TTL.
	// Default time.Now.
	Now func() time.Time
	// Logger receives the service's log. Default: discard.
	Logger *slog.Logger
}

// ErrNoStore is returned by New when Config.Store is nil.
var ErrNoStore = errors.New("signaling: Config.Store is required")

// Service is the signaling server of one node.
type Service struct {
	cfg      Config
	store    ChannelStore
	now      func() time.Time
	log      *slog.Logger
	delivery delivery
	cluster  *cluster // nil on a single node

	mu       sync.Mutex
	channels map[string]*channelState // by channel ARN; guarded by mu
	connects map[string]*connectLimit // by channel ARN; guarded by mu
	closed   bool                     // guarded by mu
	sessions sync.WaitGroup           // running connections

	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
}

// New returns a running Service (its sweeper started).
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, ErrNoStore
	}
	cfg = cfg.withDefaults()
	s := &Service{
		cfg:       cfg,
		store:     cfg.Store,
		now:       cfg.Now,
		log:       cfg.Logger,
		channels:  make(map[string]*channelState),
		connects:  make(map[string]*connectLimit),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	s.delivery = s
	if cfg.Bus != nil {
		if err := s.startCluster(); err != nil {
			return nil, err
		}
	}
	go s.sweepLoop()
	return s, nil
}

func (cfg Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxViewers, DefaultMaxViewers)
	def(&cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	def(&cfg.MaxFrameBytes, DefaultMaxFrameBytes)
	if cfg.MaxMessageBytes > 0 && cfg.MaxFrameBytes < cfg.MaxMessageBytes+4096 {
		cfg.MaxFrameBytes = cfg.MaxMessageBytes + 4096
	}
	def(&cfg.ConnectRate, DefaultConnectRate)
	def(&cfg.SDPRate, DefaultSDPRate)
	def(&cfg.ICERate, DefaultICERate)
	def(&cfg.AlexaRate, DefaultAlexaRate)
	def(&cfg.SendQueue, DefaultSendQueue)
	def(&cfg.SendQueueBytes, DefaultSendQueueBytes)
	def(&cfg.MaxQueued, DefaultMaxQueued)
	if cfg.SendQueue < cfg.MaxQueued+8 {
		// A connecting recipient gets its whole queue at once.
		cfg.SendQueue = cfg.MaxQueued + 8
	}
	if cfg.SendQueueBytes < cfg.MaxQueued*cfg.MaxFrameBytes {
		cfg.SendQueueBytes = cfg.MaxQueued * cfg.MaxFrameBytes
	}
	defDur(&cfg.IdleTimeout, DefaultIdleTimeout)
	defDur(&cfg.MaxConnectionDuration, DefaultMaxConnectionDuration)
	defDur(&cfg.GoAwayGrace, DefaultGoAwayGrace)
	defDur(&cfg.PingInterval, DefaultPingInterval)
	defDur(&cfg.PongTimeout, DefaultPongTimeout)
	defDur(&cfg.WriteTimeout, DefaultWriteTimeout)
	defDur(&cfg.AlexaTimeout, DefaultAlexaTimeout)
	defDur(&cfg.SweepInterval, DefaultSweepInterval)
	defDur(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	defDur(&cfg.PeerTimeout, DefaultPeerTimeout)
	defDur(&cfg.BusTimeout, DefaultBusTimeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Operations returns the signaling operations for the server to mount: the
// WebSocket endpoint on the root path (GET /, presigned SigV4) and the
// signaling HTTPS API.
func (s *Service) Operations() []awsapi.Operation {
	return []awsapi.Operation{
		{Name: "ConnectAsMasterOrViewer", Pattern: "GET /{$}", Handler: http.HandlerFunc(s.serveConnect)},
		{Name: "GetIceServerConfig", Pattern: "POST /v1/get-ice-server-config", Handler: http.HandlerFunc(s.serveGetIceServerConfig)},
		{Name: "SendAlexaOfferToMaster", Pattern: "POST /v1/send-alexa-offer-to-master", Handler: http.HandlerFunc(s.serveSendAlexaOfferToMaster)},
	}
}

// Stats is a snapshot of a Service's load.
type Stats struct {
	// Channels is the number of channels with connections, queued
	// messages or waiting SendAlexaOfferToMaster calls (in a cluster:
	// those this node owns).
	Channels int
	// Masters and Viewers count the open connections of this node.
	Masters, Viewers int
	// Queued counts the messages kept for recipients not connected.
	Queued int
}

// Stats returns the current load.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Channels: len(s.channels)}
	for _, c := range s.channels {
		if s.cluster == nil {
			if c.master != nil {
				st.Masters++
			}
			st.Viewers += len(c.viewers)
		}
		for _, q := range c.queue {
			st.Queued += len(q)
		}
	}
	if s.cluster != nil {
		for _, ss := range s.cluster.local {
			if ss.master {
				st.Masters++
			} else {
				st.Viewers++
			}
		}
	}
	return st
}

// localSessionsLocked returns this node's connections (of the channel
// arn only, unless arn is empty). s.mu must be held.
func (s *Service) localSessionsLocked(arn ...string) []*session {
	var out []*session
	if s.cluster != nil {
		for _, ss := range s.cluster.local {
			if len(arn) == 0 || ss.channel == arn[0] {
				out = append(out, ss)
			}
		}
		return out
	}
	if len(arn) > 0 {
		if cs := s.channels[arn[0]]; cs != nil {
			return cs.sessions()
		}
		return nil
	}
	for _, cs := range s.channels {
		out = append(out, cs.sessions()...)
	}
	return out
}

// ChannelDeleted ends everything of a deleted channel: each connection
// gets GO_AWAY and is closed, queued messages are dropped and waiting
// SendAlexaOfferToMaster calls fail. It is the control plane's
// OnChannelDeleted hook.
//
// In a cluster it tells every node to do the same.
func (s *Service) ChannelDeleted(_ context.Context, c *catalog.Channel) {
	s.channelDeletedLocal(c.ARN)
	if s.cluster != nil {
		s.cluster.announce(nodeDeleted, c.ARN)
	}
}

// channelDeletedLocal is ChannelDeleted on this node.
func (s *Service) channelDeletedLocal(arn string) {
	s.mu.Lock()
	local := s.localSessionsLocked(arn)
	cs := s.channels[arn]
	delete(s.channels, arn)
	delete(s.connects, arn)
	if s.cluster != nil {
		s.cluster.endAlexaLocked(arn)
	}
	s.mu.Unlock()
	for _, ss := range local {
		ss.goAway(closeChannelDeleted)
	}
	if cs != nil {
		for _, w := range cs.alexa {
			close(w.gone)
		}
	}
	if cs != nil || len(local) > 0 {
		s.log.Info("signaling channel deleted: connections closed", "channel", arn)
	}
}

// ReconnectICEServers sends RECONNECT_ICE_SERVER to every connection, as
// KVS does when the TURN servers it handed out are going away: clients
// fetch a new GetIceServerConfig.
func (s *Service) ReconnectICEServers() {
	frame := (&ServerMessage{MessageType: TypeReconnectICEServer}).encode()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.localSessionsLocked() {
		ss.send(frame)
	}
}

// Close sends GO_AWAY to every connection, closes them and waits (up to
// ctx's deadline) for them to end. New connections are refused from then
// on.
func (s *Service) Close(ctx context.Context) error {
	var sessions []*session
	var conns []*websocket.Conn
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		<-s.sweepDone
		s.mu.Lock()
		s.closed = true
		for _, ss := range s.localSessionsLocked() {
			sessions = append(sessions, ss)
			if ss.conn != nil {
				conns = append(conns, ss.conn)
			}
		}
		for _, cs := range s.channels {
			for _, w := range cs.alexa {
				close(w.gone)
			}
			cs.alexa = nil
		}
		if s.cluster != nil {
			s.cluster.endAlexaLocked("")
		}
		s.mu.Unlock()
		if s.cluster != nil {
			// The other nodes take over this node's channels now.
			defer s.cluster.stop()
		}
	})
	for _, ss := range sessions {
		ss.goAway(closeShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.CloseNow()
		}
		return ctx.Err()
	}
}
