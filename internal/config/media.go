package config

import (
	"fmt"
	"strconv"
	"time"
)

// MediaConfig configures the video-stream half: PutMedia ingest, the
// fragment archive and playback. Zero values take KVS' limits (see
// internal/ingest.Config and internal/archive.Config for each default).
type MediaConfig struct {
	// PutMedia configures PutMedia ingest limits.
	PutMedia PutMediaConfig `yaml:"putMedia"`
	// GetMedia configures GetMedia and GetMediaForFragmentList.
	GetMedia GetMediaConfig `yaml:"getMedia"`
	// LiveBufferBytes bounds the memory of received fragments kept for
	// live readers, across all streams (internal/archive
	// Config.LiveTotalBytes). Defaults to 256 MiB.
	LiveBufferBytes int64 `yaml:"liveBufferBytes"`
}

// GetMediaConfig holds the limits of the MKV-streaming reads (see
// internal/playback.MediaConfig).
type GetMediaConfig struct {
	// MaxSessionsPerStream bounds the concurrent GetMedia sessions of one
	// stream (ConnectionLimitExceededException beyond). Defaults to 10;
	// negative removes the limit.
	MaxSessionsPerStream int `yaml:"maxSessionsPerStream"`
	// WriteTimeout ends a response whose client took no data for this
	// long. Defaults to 30 s.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
}

// PutMediaConfig holds the PutMedia limits. Each zero value takes the KVS
// quota named in its comment (kvs-api.md §5).
type PutMediaConfig struct {
	// MaxFragmentSize bounds one fragment in bytes (ErrorId 4001).
	// Defaults to 50 MiB.
	MaxFragmentSize int64 `yaml:"maxFragmentSize"`
	// MaxFragmentDuration bounds one fragment's duration (ErrorId 4002).
	// Defaults to 20 s.
	MaxFragmentDuration time.Duration `yaml:"maxFragmentDuration"`
	// MaxTracks bounds the tracks of a stream (ErrorId 4012). Defaults to 3.
	MaxTracks int `yaml:"maxTracks"`
	// MaxFragmentTags bounds the producer's metadata tags per fragment
	// (ErrorId 4009). Defaults to 10.
	MaxFragmentTags int `yaml:"maxFragmentTags"`
	// MaxConnectionDuration ends a PutMedia connection (ErrorId 4003).
	// Defaults to 45 minutes.
	MaxConnectionDuration time.Duration `yaml:"maxConnectionDuration"`
	// IdleTimeout closes a connection that sent no data for this long.
	// Defaults to 30 s.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// IdleAckInterval is how often IDLE acks keep a quiet connection alive.
	// Defaults to 3 s.
	IdleAckInterval time.Duration `yaml:"idleAckInterval"`
	// ConnectionsPerSecond bounds new PutMedia connections per stream and
	// second (ClientLimitExceededException). Defaults to 5; negative
	// disables the limit.
	ConnectionsPerSecond int `yaml:"connectionsPerSecond"`
	// MaxProducerTimestampAhead bounds how far a fragment's producer
	// timestamp may be ahead of server time (ErrorId 4007). Defaults to
	// 10 s; negative disables the check.
	MaxProducerTimestampAhead time.Duration `yaml:"maxProducerTimestampAhead"`
}

// mediaFields lists the serve flags of MediaConfig.
func mediaFields() []Field {
	p := func(c *Config) *PutMediaConfig { return &c.Media.PutMedia }
	return []Field{
		field("put-media-max-fragment-size", "largest PutMedia fragment in bytes, ErrorId 4001 beyond (0: KVS' 50 MiB)",
			func(c *Config) Value { return (*mediaInt64Value)(&p(c).MaxFragmentSize) }),
		field("put-media-max-fragment-duration", "longest PutMedia fragment, ErrorId 4002 beyond (0: KVS' 20s)",
			func(c *Config) Value { return (*durationValue)(&p(c).MaxFragmentDuration) }),
		field("put-media-max-tracks", "most tracks per PutMedia stream, ErrorId 4012 beyond (0: KVS' 3)",
			func(c *Config) Value { return (*mediaIntValue)(&p(c).MaxTracks) }),
		field("put-media-max-fragment-tags", "most producer metadata tags per fragment, ErrorId 4009 beyond (0: KVS' 10)",
			func(c *Config) Value { return (*mediaIntValue)(&p(c).MaxFragmentTags) }),
		field("put-media-max-connection-duration", "longest PutMedia connection, ErrorId 4003 then (0: KVS' 45m)",
			func(c *Config) Value { return (*durationValue)(&p(c).MaxConnectionDuration) }),
		field("put-media-idle-timeout", "close a PutMedia connection that sent no data for this long (0: KVS' 30s)",
			func(c *Config) Value { return (*durationValue)(&p(c).IdleTimeout) }),
		field("put-media-idle-ack-interval", "interval of IDLE keep-alive acks on a quiet PutMedia connection (0: 3s)",
			func(c *Config) Value { return (*durationValue)(&p(c).IdleAckInterval) }),
		field("put-media-connections-per-second", "new PutMedia connections per stream and second (0: KVS' 5; negative: unlimited)",
			func(c *Config) Value { return (*mediaIntValue)(&p(c).ConnectionsPerSecond) }),
		field("put-media-max-producer-timestamp-ahead", "how far a fragment's producer timestamp may be ahead of server time, ErrorId 4007 beyond (0: 10s; negative: no check)",
			func(c *Config) Value { return (*durationValue)(&p(c).MaxProducerTimestampAhead) }),
		field("get-media-max-sessions-per-stream", "concurrent GetMedia sessions per stream, ConnectionLimitExceededException beyond (0: 10; negative: unlimited)",
			func(c *Config) Value { return (*mediaIntValue)(&c.Media.GetMedia.MaxSessionsPerStream) }),
		field("get-media-write-timeout", "end a GetMedia response whose client took no data for this long (0: 30s)",
			func(c *Config) Value { return (*durationValue)(&c.Media.GetMedia.WriteTimeout) }),
		field("live-buffer-bytes", "memory for received fragments kept for live readers, all streams together (0: 256 MiB)",
			func(c *Config) Value { return (*mediaInt64Value)(&c.Media.LiveBufferBytes) }),
	}
}

type mediaIntValue int

func (v *mediaIntValue) String() string { return strconv.Itoa(int(*v)) }
func (v *mediaIntValue) Set(s string) error {
	x, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = mediaIntValue(x)
	return nil
}
func (v *mediaIntValue) Type() string { return "int" }

type mediaInt64Value int64

func (v *mediaInt64Value) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *mediaInt64Value) Set(s string) error {
	x, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = mediaInt64Value(x)
	return nil
}
func (v *mediaInt64Value) Type() string { return "int64" }
