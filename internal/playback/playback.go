// Package playback serves the read side of KVS video streams: the media
// API (GetMedia) and the archived-media API (ListFragments,
// GetMediaForFragmentList, HLS and DASH streaming sessions, GetClip,
// GetImages), all read from the fragment archive.
package playback

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/openkvs/openkvs/internal/archive"
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// ErrNoArchive and ErrNoStreams are returned by New for a Config that lacks
// them.
var (
	ErrNoArchive = errors.New("playback: Config.Archive is required")
	ErrNoStreams = errors.New("playback: Config.Streams is required")
)

// Streams looks streams up in the catalog.
type Streams interface {
	GetStream(ctx context.Context, name string) (*catalog.Stream, error)
}

// Archive is what playback reads from the fragment archive: the embedded
// *archive.Archive, or the cluster archive in object storage
// (internal/objarchive). See package archive for each method's contract.
type Archive interface {
	// Next returns the first fragment after n, durable or only received,
	// or nil and a channel closed when there may be a new one.
	Next(stream string, n archive.Number) (*archive.Fragment, <-chan struct{}, error)
	// Latest returns the newest received fragment, or nil.
	Latest(stream string) (*archive.Fragment, error)
	// Get returns fragment n, or archive.ErrNotFound.
	Get(stream string, n archive.Number) (*archive.Fragment, error)
	// Seek returns the fragment containing t (by kind), else the first
	// after it, or nil.
	Seek(stream string, kind archive.TimeKind, t time.Time) (*archive.Fragment, error)
	// List returns up to limit durable fragments starting within
	// [start, end] after number n, in number order, and whether more
	// follow.
	List(stream string, kind archive.TimeKind, start, end time.Time, n archive.Number, limit int) ([]*archive.Fragment, bool, error)
	// ReadCluster returns the Cluster bytes of a fragment this archive
	// returned, or archive.ErrNotFound once it expired.
	ReadCluster(stream string, f *archive.Fragment) ([]byte, error)
}

var _ Archive = (*archive.Archive)(nil)

// Config configures a Service.
type Config struct {
	// Archive holds the fragments. Required.
	Archive Archive
	// Streams is the catalog. Required.
	Streams Streams
	// Media configures GetMedia and GetMediaForFragmentList.
	Media MediaConfig
	// Sessions configures HLS and DASH streaming sessions (sessions.go).
	Sessions SessionConfig
	// Rates bounds the request rate of operations per stream
	// (ratelimit.go).
	Rates RateConfig
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives the service's logs. Defaults to discarding them.
	Logger *slog.Logger
}

// MediaConfig configures the MKV-streaming operations, GetMedia and
// GetMediaForFragmentList.
type MediaConfig struct {
	// MaxGetMediaPerStream bounds the concurrent GetMedia sessions of one
	// stream; one more is refused with ConnectionLimitExceededException.
	// KVS documents no figure. Defaults to 10; negative removes the limit.
	MaxGetMediaPerStream int
	// WriteTimeout ends a GetMedia or GetMediaForFragmentList response
	// whose client has not taken one chunk for this long, so a reader
	// that stops reading does not hold a session forever. Defaults to
	// 30 s.
	WriteTimeout time.Duration
}

// RateConfig bounds how many calls of an operation one stream accepts
// per second, as KVS does; a call over the limit is refused with
// ClientLimitExceededException (HTTP 400). Bursts up to the limit are
// allowed, and the allowance refills continuously.
type RateConfig struct {
	// GetMediaPerSecond limits GetMedia calls per stream. Defaults to 5,
	// as KVS; negative removes the limit.
	GetMediaPerSecond int
	// SessionURLPerSecond limits GetHLSStreamingSessionURL calls per
	// stream, and separately GetDASHStreamingSessionURL calls. Defaults
	// to 25, as KVS; negative removes the limit.
	SessionURLPerSecond int
}

// Service serves the media and archived-media APIs.
type Service struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	sessions map[string]map[*mediaSession]struct{} // GetMedia, by stream
	changed  chan struct{}                         // closed when sessions changes

	getMediaRate, hlsURLRate, dashURLRate *rateLimiter // nil: unlimited
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Archive == nil {
		return nil, ErrNoArchive
	}
	if cfg.Streams == nil {
		return nil, ErrNoStreams
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Media.MaxGetMediaPerStream == 0 {
		cfg.Media.MaxGetMediaPerStream = 10
	}
	if cfg.Media.WriteTimeout <= 0 {
		cfg.Media.WriteTimeout = 30 * time.Second
	}
	return &Service{
		cfg: cfg, log: cfg.Logger,
		sessions:     make(map[string]map[*mediaSession]struct{}),
		changed:      make(chan struct{}),
		getMediaRate: newRateLimiter("GetMedia", cfg.Rates.GetMediaPerSecond, defaultGetMediaPerSecond, cfg.Now),
		hlsURLRate:   newRateLimiter("GetHLSStreamingSessionURL", cfg.Rates.SessionURLPerSecond, defaultSessionURLPerSecond, cfg.Now),
		dashURLRate:  newRateLimiter("GetDASHStreamingSessionURL", cfg.Rates.SessionURLPerSecond, defaultSessionURLPerSecond, cfg.Now),
	}, nil
}

// Operations returns the service's operations for the server's routing
// table.
func (s *Service) Operations() []awsapi.Operation {
	return append(append(s.mediaOperations(), s.sessionOperations()...), s.imageOperations()...)
}

// CloseStream ends every GetMedia session reading stream (the stream was
// deleted).
func (s *Service) CloseStream(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range s.sessions[stream] {
		m.cancel()
	}
}

// Close ends every GetMedia session and refuses new ones, so that a
// server shutting down need not wait for readers that never stop. It
// always returns nil.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, set := range s.sessions {
		for m := range set {
			m.cancel()
		}
	}
	return nil
}
