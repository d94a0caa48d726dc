package producer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/openkvs/openkvs/media/mkv"
)

// Defaults for Config.
const (
	DefaultMaxFragmentDuration = 20 * time.Second
	DefaultAudioFragment       = 2 * time.Second
	DefaultMaxBufferDuration   = 120 * time.Second
	DefaultMaxBufferBytes      = 64 << 20
	DefaultMaxLatency          = 60 * time.Second
	DefaultMinBackoff          = 200 * time.Millisecond
	DefaultMaxBackoff          = 10 * time.Second
	DefaultStaleTimeout        = 20 * time.Second
	DefaultMaxFragmentErrors   = 3
	DefaultEndpointTTL         = 45 * time.Minute
)

// Errors returned by Start for an invalid Config and by the Producer's
// methods.
var (
	ErrNoStream      = errors.New("producer: StreamName or StreamARN is required")
	ErrNoTracks      = errors.New("producer: Config.Tracks needs 1 to 3 tracks")
	ErrBadTrack      = errors.New("producer: invalid track")
	ErrNoCredentials = errors.New("producer: Config.AWS.Credentials is required")
	ErrNoRegion      = errors.New("producer: Config.AWS.Region is required")
	ErrClosed        = errors.New("producer: closed")
	ErrMetadata      = errors.New("producer: invalid fragment metadata")
	// ErrTimestamp reports a key frame that would start a fragment at or
	// before the previous fragment's timecode.
	ErrTimestamp = errors.New("producer: fragment timecode not after the previous one")
)

// Track describes one track of the stream: a Matroska TrackEntry and how
// its frames are framed.
type Track struct {
	mkv.Track
	// AnnexB says the track's frames are H.264/H.265 Annex-B byte streams
	// (start codes). They are converted to the 4-byte length-prefixed form
	// Matroska stores, and when CodecPrivate is empty it is built from the
	// SPS/PPS (and VPS) of the first key frame, as is the video size.
	AnnexB bool
}

// Config configures a Producer.
type Config struct {
	// StreamName or StreamARN names the stream. One is required.
	StreamName string
	StreamARN  string

	// AWS supplies the region, credentials, HTTP client (with its CA
	// bundle) and the control-plane endpoint (BaseEndpoint) used for
	// GetDataEndpoint, as aws-sdk-go-v2's config.LoadDefaultConfig loads
	// them from the environment and shared files. Region and Credentials
	// are required.
	AWS aws.Config
	// ControlEndpoints, when set, replace AWS.BaseEndpoint with several
	// control-plane endpoints (the nodes of an openkvs cluster, or the
	// addresses of one service), used one at a time: after a connection
	// fails or ends with an error the producer moves on to the next, so
	// that it finds a live node when the one it used died.
	ControlEndpoints []string
	// DataEndpoint, when set, is the PutMedia endpoint
	// ("https://host:port") and GetDataEndpoint is not called.
	DataEndpoint string
	// EndpointTTL is how long a discovered data endpoint is reused; it is
	// also forgotten after a failed connection. Defaults to 45 minutes (as
	// the KVS SDKs refresh it).
	EndpointTTL time.Duration

	// Tracks lists the stream's tracks, 1 to 3 (the KVS limit). Required.
	Tracks []Track
	// KeyFrameTrack is the TrackNumber whose key frames start fragments.
	// Defaults to the first video track, else the first track.
	KeyFrameTrack uint64
	// StartTime is the wall-clock time of PTS 0: a frame's absolute
	// (producer) timestamp is StartTime + Frame.PTS. Defaults to the time
	// Start is called. The service rejects fragments dated too far ahead
	// of its clock (INVALID_PRODUCER_TIMESTAMP), so a source read faster
	// than real time, such as a file, should start in the past.
	StartTime time.Time
	// FragmentDuration is the shortest fragment: a key frame starts a new
	// fragment only this long after the current one started. Defaults to
	// 0 (every key frame starts one) when KeyFrameTrack is a video track,
	// and to 2 s otherwise (audio frames are all key frames).
	FragmentDuration time.Duration
	// MaxFragmentDuration bounds a fragment; frames that would make it
	// longer are dropped until the next key frame (the service rejects
	// longer fragments with MAX_FRAGMENT_DURATION_REACHED). Defaults to
	// 20 s; at most 30 s (Matroska block timecodes are 16-bit).
	MaxFragmentDuration time.Duration

	// MaxBufferDuration and MaxBufferBytes bound the fragments kept until
	// they are PERSISTED (or being built). Beyond either, the oldest
	// fragments not in flight are dropped, then incoming frames. Default
	// to 120 s and 64 MiB.
	MaxBufferDuration time.Duration
	MaxBufferBytes    int64
	// MaxLatency is the buffered duration beyond which OnLatencyPressure
	// is called. Defaults to 60 s.
	MaxLatency time.Duration
	// Offline makes PutFrame wait for buffer space (fragments being
	// PERSISTED) instead of dropping when the buffer is full, as the KVS
	// SDKs' offline streaming type does: for files and other sources that
	// can be read faster than they can be sent. Defaults to false (live:
	// drop).
	Offline bool
	// AckOnReceived treats RECEIVED as final, for streams with retention
	// 0, which never get PERSISTED. Defaults to false; when the producer
	// discovers its endpoint (no DataEndpoint) it also calls
	// DescribeStream once and turns this on for a stream with retention 0.
	AckOnReceived bool
	// ResendUnchecked resends the fragments of a lost connection that
	// were sent without a PERSISTED ack as they are. Defaults to false:
	// before reconnecting they are looked up with ListFragments (by
	// producer timestamp) and those the service already has are not sent
	// again, so that a server crash between storing a fragment and
	// acknowledging it does not store it twice. Set it when the
	// credentials may not call ListFragments.
	ResendUnchecked bool
	// MaxFragmentErrors is how many retryable ERROR acks (5000, 5001,
	// 4000) one fragment may get before it is dropped. Defaults to 3.
	MaxFragmentErrors int

	// MinBackoff and MaxBackoff bound the exponential delay between
	// reconnection attempts (with jitter); it starts again from MinBackoff
	// after a connection that got acks. Default to 200 ms and 10 s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// StaleTimeout closes a connection on which no ack (not even IDLE)
	// arrived for this long. Defaults to 20 s.
	StaleTimeout time.Duration
	// HTTPClient sends PutMedia. Defaults to AWS.HTTPClient, else a
	// default http.Client.
	HTTPClient aws.HTTPClient
	// UserAgent is sent with PutMedia. Defaults to "openkvs-producer".
	UserAgent string

	// OnAck, when set, is called for every ack received.
	OnAck func(Ack)
	// OnDrop, when set, is called for every dropped frame or fragment.
	OnDrop func(Drop)
	// OnLatencyPressure, when set, is called when the buffered duration
	// grows beyond MaxLatency, with that duration; it is called again only
	// after the buffer has come back under MaxLatency/2.
	OnLatencyPressure func(buffered time.Duration)
	// OnError, when set, is called for every failed connection attempt or
	// connection loss; the producer retries after it. Fatal errors end
	// the producer and are returned by PutFrame and Close.
	OnError func(error)
	// Logger receives the producer's logs. Defaults to discarding them.
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.StreamName == "" && cfg.StreamARN == "" {
		return cfg, ErrNoStream
	}
	if len(cfg.Tracks) == 0 || len(cfg.Tracks) > 3 {
		return cfg, ErrNoTracks
	}
	seen := map[uint64]bool{}
	for _, t := range cfg.Tracks {
		if t.Number == 0 || seen[t.Number] {
			return cfg, fmt.Errorf("%w: track number %d is zero or repeated", ErrBadTrack, t.Number)
		}
		if t.CodecID == "" {
			return cfg, fmt.Errorf("%w: track %d has no CodecID", ErrBadTrack, t.Number)
		}
		if t.AnnexB && codecOf(t.CodecID) == 0 {
			return cfg, fmt.Errorf("%w: track %d is AnnexB but %s is not H.264 or H.265", ErrBadTrack, t.Number, t.CodecID)
		}
		seen[t.Number] = true
	}
	if cfg.AWS.Credentials == nil {
		return cfg, ErrNoCredentials
	}
	if cfg.AWS.Region == "" {
		return cfg, ErrNoRegion
	}
	if cfg.KeyFrameTrack == 0 {
		cfg.KeyFrameTrack = cfg.Tracks[0].Number
		for _, t := range cfg.Tracks {
			if t.Type == mkv.TrackTypeVideo {
				cfg.KeyFrameTrack = t.Number
				break
			}
		}
	} else if !seen[cfg.KeyFrameTrack] {
		return cfg, fmt.Errorf("%w: KeyFrameTrack %d is not a track", ErrBadTrack, cfg.KeyFrameTrack)
	}
	if cfg.FragmentDuration <= 0 {
		for _, t := range cfg.Tracks {
			if t.Number == cfg.KeyFrameTrack && t.Type != mkv.TrackTypeVideo {
				cfg.FragmentDuration = DefaultAudioFragment
			}
		}
	}
	if cfg.MaxFragmentDuration <= 0 {
		cfg.MaxFragmentDuration = DefaultMaxFragmentDuration
	}
	cfg.MaxFragmentDuration = min(cfg.MaxFragmentDuration, 30*time.Second)
	if cfg.EndpointTTL <= 0 {
		cfg.EndpointTTL = DefaultEndpointTTL
	}
	if cfg.MaxBufferDuration <= 0 {
		cfg.MaxBufferDuration = DefaultMaxBufferDuration
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if cfg.MaxLatency <= 0 {
		cfg.MaxLatency = DefaultMaxLatency
	}
	if cfg.MaxFragmentErrors <= 0 {
		cfg.MaxFragmentErrors = DefaultMaxFragmentErrors
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.StaleTimeout <= 0 {
		cfg.StaleTimeout = DefaultStaleTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "openkvs-producer"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StartTime.IsZero() {
		cfg.StartTime = cfg.Now()
	}
	return cfg, nil
}
