// Package playback serves the read side of KVS video streams: the media
// API (GetMedia) and the archived-media API (ListFragments,
// GetMediaForFragmentList, HLS and DASH streaming sessions, GetClip,
// GetImages), all read from the fragment archive.
package playback

import (
	"context"
	"errors"
	"log/slog"
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

// Config configures a Service.
type Config struct {
	// Archive holds the fragments. Required.
	Archive *archive.Archive
	// Streams is the catalog. Required.
	Streams Streams
	// Sessions configures HLS and DASH streaming sessions (sessions.go).
	Sessions SessionConfig
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives the service's logs. Defaults to discarding them.
	Logger *slog.Logger
}

// Service serves the media and archived-media APIs.
type Service struct {
	cfg Config
	log *slog.Logger
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
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// Operations returns the service's operations for the server's routing
// table.
func (s *Service) Operations() []awsapi.Operation {
	return append(s.mediaOperations(), s.sessionOperations()...)
}
