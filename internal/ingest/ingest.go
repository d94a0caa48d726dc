// Package ingest serves PutMedia: it reads a producer's endless Matroska
// stream, cuts it into fragments (one Cluster each), hands them to the
// archive and answers with KVS' stream of JSON acknowledgements (BUFFERING,
// RECEIVED, PERSISTED, ERROR, IDLE) while the upload goes on, enforcing KVS'
// per-fragment and per-connection limits.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/bus"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Defaults for Config, from KVS' PutMedia quotas (kvs-api.md §5).
const (
	DefaultMaxFragmentSize       = 50 << 20
	DefaultMaxFragmentDuration   = 20 * time.Second
	DefaultMaxTracks             = 3
	DefaultMaxFragmentTags       = 10
	DefaultMaxConnectionDuration = 45 * time.Minute
	DefaultIdleTimeout           = 30 * time.Second
	DefaultIdleAckInterval       = 3 * time.Second
	DefaultConnectionsPerSecond  = 5
	// DefaultMaxProducerTimestampAhead: KVS refuses producer timestamps
	// in the future without documenting a tolerance; this one allows for
	// clock skew between producer and server.
	DefaultMaxProducerTimestampAhead = 10 * time.Second
)

// ErrNoArchive and ErrNoStreams are returned by New for a Config that lacks
// them.
var (
	ErrNoArchive = errors.New("ingest: Config.Archive is required")
	ErrNoStreams = errors.New("ingest: Config.Streams is required")
)

// Archive is what ingest needs from the fragment archive.
type Archive interface {
	// NewNumber returns a fresh fragment number.
	NewNumber() archive.Number
	// Put stores a received fragment; with durable set the channel
	// reports when it is on disk.
	Put(stream string, f *archive.Fragment, cluster []byte, durable bool) (<-chan error, error)
}

// Streams looks streams up in the catalog.
type Streams interface {
	GetStream(ctx context.Context, name string) (*catalog.Stream, error)
}

// Config configures a Service.
type Config struct {
	// Archive stores the fragments. Required.
	Archive Archive
	// Streams is the catalog. Required.
	Streams Streams
	// Logger receives the service's logs. Defaults to discarding them.
	Logger *slog.Logger
	// MaxFragmentSize bounds one fragment (Cluster) in bytes; larger ones
	// fail with MAX_FRAGMENT_SIZE_REACHED (4001). Defaults to 50 MiB.
	MaxFragmentSize int64
	// MaxFragmentDuration bounds one fragment's duration; longer ones fail
	// with MAX_FRAGMENT_DURATION_REACHED (4002). Defaults to 20 s.
	MaxFragmentDuration time.Duration
	// MaxTracks bounds the tracks of a stream; more fail with
	// MORE_THAN_ALLOWED_TRACKS_FOUND (4012). Defaults to 3.
	MaxTracks int
	// MaxFragmentTags bounds the producer's fragment metadata tags; more
	// fail with FRAGMENT_METADATA_LIMIT_REACHED (4009). Defaults to 10.
	MaxFragmentTags int
	// MaxConnectionDuration ends a PutMedia connection with
	// MAX_CONNECTION_DURATION_REACHED (4003) after this long. Defaults to
	// 45 minutes.
	MaxConnectionDuration time.Duration
	// IdleTimeout closes a connection on which no data arrived for this
	// long. Defaults to 30 s.
	IdleTimeout time.Duration
	// IdleAckInterval is how long the ack stream may stay silent before an
	// IDLE keep-alive is sent. Defaults to 3 s.
	IdleAckInterval time.Duration
	// WriteTimeout bounds writing one batch of acks to a client that does
	// not read them. Defaults to 30 s.
	WriteTimeout time.Duration
	// ConnectionsPerSecond bounds new PutMedia connections per stream and
	// second (ClientLimitExceededException beyond). Defaults to 5;
	// negative disables the limit.
	ConnectionsPerSecond int
	// MaxProducerTimestampAhead bounds how far a fragment's producer
	// timestamp may be ahead of the server's clock; a later one fails with
	// INVALID_PRODUCER_TIMESTAMP (4007). Past timestamps (offline uploads)
	// are accepted. Defaults to 10 s; negative disables the check.
	MaxProducerTimestampAhead time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Bus, when set, connects this node to the other nodes of a cluster:
	// a PutMedia on any node ends the connection of the same stream on
	// every other node, the newest winning (cluster.go). Nil on a single
	// node.
	Bus bus.Bus
	// NodeID names this node on Bus. Defaults to a random id.
	NodeID string
}

// Service serves PutMedia.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	conns   map[string]*conn       // the live connection of each stream
	recent  map[string][]time.Time // connection starts, for the rate limit
	closing bool
	wg      sync.WaitGroup

	// Cluster (Config.Bus set): this node's id, its subscriptions and
	// the last connection id handed out.
	node   string
	subs   []bus.Subscription
	nextID atomic.Uint64
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Archive == nil {
		return nil, ErrNoArchive
	}
	if cfg.Streams == nil {
		return nil, ErrNoStreams
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFragmentSize <= 0 {
		cfg.MaxFragmentSize = DefaultMaxFragmentSize
	}
	if cfg.MaxFragmentDuration <= 0 {
		cfg.MaxFragmentDuration = DefaultMaxFragmentDuration
	}
	if cfg.MaxTracks <= 0 {
		cfg.MaxTracks = DefaultMaxTracks
	}
	if cfg.MaxFragmentTags <= 0 {
		cfg.MaxFragmentTags = DefaultMaxFragmentTags
	}
	if cfg.MaxConnectionDuration <= 0 {
		cfg.MaxConnectionDuration = DefaultMaxConnectionDuration
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.IdleAckInterval <= 0 {
		cfg.IdleAckInterval = DefaultIdleAckInterval
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.ConnectionsPerSecond == 0 {
		cfg.ConnectionsPerSecond = DefaultConnectionsPerSecond
	}
	if cfg.MaxProducerTimestampAhead == 0 {
		cfg.MaxProducerTimestampAhead = DefaultMaxProducerTimestampAhead
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, log: cfg.Logger, conns: make(map[string]*conn), recent: make(map[string][]time.Time)}
	if cfg.Bus != nil {
		if err := s.startCluster(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Operations returns PutMedia for the server's routing table.
func (s *Service) Operations() []awsapi.Operation {
	return []awsapi.Operation{{Name: "PutMedia", Pattern: "POST /putMedia", Handler: http.HandlerFunc(s.putMedia)}}
}

// CloseStream ends the PutMedia connection of a deleted stream (its
// producer gets an ERROR ack) and waits, up to a few seconds, until it no
// longer writes to the archive.
func (s *Service) CloseStream(name string) {
	s.mu.Lock()
	c := s.conns[name]
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.stop(stopDeleted)
	select {
	case <-c.readerDone:
	case <-time.After(5 * time.Second):
		s.log.Warn("ingest: connection of a deleted stream did not stop", "stream", name)
	}
}

// Close ends every PutMedia connection (acks for fragments already
// received are still delivered) and waits for their handlers to return.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.stopCluster()
	for _, c := range conns {
		c.stop(stopClosing)
	}
	s.wg.Wait()
	return nil
}

// register makes c the stream's connection; an older one is told to stop
// (the newest PutMedia wins).
func (s *Service) register(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return awsapi.Errorf(awsapi.ClientLimitExceeded, "The server is shutting down.")
	}
	if lim := s.cfg.ConnectionsPerSecond; lim > 0 {
		now := s.cfg.Now()
		var keep []time.Time
		for _, t := range s.recent[c.stream] {
			if now.Sub(t) < time.Second {
				keep = append(keep, t)
			}
		}
		if len(keep) >= lim {
			s.recent[c.stream] = keep
			return awsapi.Errorf(awsapi.ClientLimitExceeded, "More than %d PutMedia connections per second on stream %s.", lim, c.stream)
		}
		s.recent[c.stream] = append(keep, now)
	}
	if old := s.conns[c.stream]; old != nil {
		old.stop(stopTakenOver)
	}
	c.id, c.started = s.nextID.Add(1), s.cfg.Now()
	s.conns[c.stream] = c
	s.wg.Add(1)
	return nil
}

func (s *Service) unregister(c *conn) {
	s.mu.Lock()
	if s.conns[c.stream] == c {
		delete(s.conns, c.stream)
	}
	if len(s.recent[c.stream]) > 0 && s.cfg.Now().Sub(s.recent[c.stream][len(s.recent[c.stream])-1]) >= time.Second {
		delete(s.recent, c.stream)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// resolveStream finds the stream a PutMedia names by header.
func (s *Service) resolveStream(r *http.Request) (*catalog.Stream, error) {
	name, arn := r.Header.Get("x-amzn-stream-name"), r.Header.Get("x-amzn-stream-arn")
	if name == "" && arn == "" {
		return nil, awsapi.Errorf(awsapi.InvalidArgument, "Either the x-amzn-stream-name or the x-amzn-stream-arn header must be set.")
	}
	if arn != "" {
		a, err := awsapi.ParseARN(arn)
		if err != nil || a.Type != "stream" {
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "x-amzn-stream-arn %q is not a stream ARN.", arn)
		}
		if name != "" && name != a.Name {
			return nil, awsapi.Errorf(awsapi.InvalidArgument, "x-amzn-stream-name and x-amzn-stream-arn name different streams.")
		}
		name = a.Name
	}
	st, err := s.cfg.Streams.GetStream(r.Context(), name)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && (st.Status == catalog.StatusDeleting || (arn != "" && st.ARN != arn))) {
		return nil, awsapi.Errorf(awsapi.ResourceNotFound, "The stream %s does not exist.", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get stream %q: %w", name, err)
	}
	return st, nil
}
