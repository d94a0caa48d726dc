// Package controlplane serves the Kinesis Video Streams control plane (the
// "kinesisvideo" service, API version 2017-09-30): streams, signaling
// channels, their tags, endpoints and configurations, on the wire exactly as
// the official AWS SDKs speak it (restJson1, every operation a POST with a
// JSON body).
//
// Every operation of the service model is implemented. Most of them act on
// the metadata catalog only; the following are stored-only: openkvs keeps
// and returns what was set (validated against the service model) but no
// component acts on it:
//
//   - UpdateImageGenerationConfiguration / DescribeImageGenerationConfiguration
//     (no images are delivered to S3)
//   - UpdateNotificationConfiguration / DescribeNotificationConfiguration
//     (no notifications are published)
//   - UpdateStreamStorageConfiguration / DescribeStreamStorageConfiguration
//     (the storage tier does not change how fragments are stored)
//   - StartEdgeConfigurationUpdate / DescribeEdgeConfiguration /
//     DeleteEdgeConfiguration / ListEdgeAgentConfigurations (there is no
//     edge agent; configurations stay in SyncStatus SYNCING)
//
// UpdateMediaStorageConfiguration / DescribeMediaStorageConfiguration /
// DescribeMappedResourceConfiguration are stored here too; the WebRTC
// ingestion component reads the mapping from the catalog.
package controlplane

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Config configures a Service.
type Config struct {
	// Store keeps the stream and channel records. Required.
	Store catalog.Store
	// Region is the region written into ARNs and the default KMS key alias.
	// Defaults to "us-east-1".
	Region string
	// AccountID is the account written into ARNs. Defaults to
	// "000000000000".
	AccountID string
	// Endpoints tells GetDataEndpoint and GetSignalingChannelEndpoint where
	// the data plane and signaling are served. Required.
	Endpoints EndpointResolver
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives the service's logs. Defaults to discarding them.
	Logger *slog.Logger
	// MaxStreams is the account's stream limit; CreateStream beyond it
	// fails with AccountStreamLimitExceededException. Defaults to 10000.
	MaxStreams int
	// MaxChannels is the account's signaling channel limit;
	// CreateSignalingChannel beyond it fails with
	// AccountChannelLimitExceededException. Defaults to 10000.
	MaxChannels int
	// ActivationDelay is how long a new stream or channel reports status
	// CREATING before it becomes ACTIVE, derived from its creation time (no
	// background work). Mutations of a resource still CREATING fail with
	// ResourceInUseException. Defaults to 0: resources are ACTIVE at once.
	ActivationDelay time.Duration
	// OnStreamDeleted is called, synchronously, after a stream was deleted
	// (the archive drops its fragments there). It should not block for
	// long. May be nil.
	OnStreamDeleted func(ctx context.Context, s *catalog.Stream)
	// OnChannelDeleted is called, synchronously, after a signaling channel
	// was deleted (signaling closes its connections there). It should not
	// block for long. May be nil.
	OnChannelDeleted func(ctx context.Context, c *catalog.Channel)
}

// EndpointResolver tells the control plane the URLs of this server as the
// caller reached it.
type EndpointResolver interface {
	// DataEndpoint is the base URL (scheme, host, port; no path) of the
	// media and archived-media APIs, e.g. "https://127.0.0.1:8443".
	DataEndpoint(r *http.Request) string
	// SignalingEndpoints are the signaling WebSocket base URL
	// ("wss://host:port") and the signaling HTTPS base URL
	// ("https://host:port").
	SignalingEndpoints(r *http.Request) (wss, https string)
}

// Service implements the kinesisvideo control-plane operations.
type Service struct {
	store       catalog.Store
	region      string
	account     string
	endpoints   EndpointResolver
	now         func() time.Time
	log         *slog.Logger
	maxStreams  int
	maxChannels int
	activation  time.Duration
	onStreamDel func(context.Context, *catalog.Stream)
	onChanDel   func(context.Context, *catalog.Channel)
}

// New returns a Service for cfg. It fails with ErrNoStore or ErrNoEndpoints
// when a required field is missing.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{
		store:       cfg.Store,
		region:      cfg.Region,
		account:     cfg.AccountID,
		endpoints:   cfg.Endpoints,
		now:         cfg.Now,
		log:         cfg.Logger,
		maxStreams:  cfg.MaxStreams,
		maxChannels: cfg.MaxChannels,
		activation:  cfg.ActivationDelay,
		onStreamDel: cfg.OnStreamDeleted,
		onChanDel:   cfg.OnChannelDeleted,
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.account == "" {
		s.account = "000000000000"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxStreams <= 0 {
		s.maxStreams = 10000
	}
	if s.maxChannels <= 0 {
		s.maxChannels = 10000
	}
	return s, nil
}

func (c *Config) validate() error {
	if c.Store == nil {
		return ErrNoStore
	}
	if c.Endpoints == nil {
		return ErrNoEndpoints
	}
	if c.ActivationDelay < 0 {
		return ErrNegativeDelay
	}
	return nil
}

// Operations returns one awsapi.Operation per control-plane operation, with
// the path the SDKs use (note the capitalised /TagResource, /UntagResource
// and /ListTagsForResource).
func (s *Service) Operations() []awsapi.Operation {
	ops := []struct {
		name, path string
		h          http.Handler
	}{
		// Streams (streams.go).
		{"CreateStream", "/createStream", handle(s, s.createStream)},
		{"DescribeStream", "/describeStream", handle(s, s.describeStream)},
		{"ListStreams", "/listStreams", handle(s, s.listStreams)},
		{"UpdateStream", "/updateStream", handle(s, s.updateStream)},
		{"DeleteStream", "/deleteStream", handle(s, s.deleteStream)},
		{"UpdateDataRetention", "/updateDataRetention", handle(s, s.updateDataRetention)},
		// Stream tags (stream_tags.go).
		{"TagStream", "/tagStream", handle(s, s.tagStream)},
		{"UntagStream", "/untagStream", handle(s, s.untagStream)},
		{"ListTagsForStream", "/listTagsForStream", handle(s, s.listTagsForStream)},
		// Resource tags (resource_tags.go).
		{"TagResource", "/TagResource", handle(s, s.tagResource)},
		{"UntagResource", "/UntagResource", handle(s, s.untagResource)},
		{"ListTagsForResource", "/ListTagsForResource", handle(s, s.listTagsForResource)},
		// Signaling channels (channels.go).
		{"CreateSignalingChannel", "/createSignalingChannel", handle(s, s.createSignalingChannel)},
		{"DescribeSignalingChannel", "/describeSignalingChannel", handle(s, s.describeSignalingChannel)},
		{"ListSignalingChannels", "/listSignalingChannels", handle(s, s.listSignalingChannels)},
		{"UpdateSignalingChannel", "/updateSignalingChannel", handle(s, s.updateSignalingChannel)},
		{"DeleteSignalingChannel", "/deleteSignalingChannel", handle(s, s.deleteSignalingChannel)},
		// Endpoints (endpoints.go).
		{"GetDataEndpoint", "/getDataEndpoint", handle(s, s.getDataEndpoint)},
		{"GetSignalingChannelEndpoint", "/getSignalingChannelEndpoint", handle(s, s.getSignalingChannelEndpoint)},
		// Stream configurations (stream_configs.go).
		{"UpdateImageGenerationConfiguration", "/updateImageGenerationConfiguration", handle(s, s.updateImageGenerationConfiguration)},
		{"DescribeImageGenerationConfiguration", "/describeImageGenerationConfiguration", handle(s, s.describeImageGenerationConfiguration)},
		{"UpdateNotificationConfiguration", "/updateNotificationConfiguration", handle(s, s.updateNotificationConfiguration)},
		{"DescribeNotificationConfiguration", "/describeNotificationConfiguration", handle(s, s.describeNotificationConfiguration)},
		{"UpdateStreamStorageConfiguration", "/updateStreamStorageConfiguration", handle(s, s.updateStreamStorageConfiguration)},
		{"DescribeStreamStorageConfiguration", "/describeStreamStorageConfiguration", handle(s, s.describeStreamStorageConfiguration)},
		{"DescribeMappedResourceConfiguration", "/describeMappedResourceConfiguration", handle(s, s.describeMappedResourceConfiguration)},
		// Channel configurations (channel_configs.go).
		{"UpdateMediaStorageConfiguration", "/updateMediaStorageConfiguration", handle(s, s.updateMediaStorageConfiguration)},
		{"DescribeMediaStorageConfiguration", "/describeMediaStorageConfiguration", handle(s, s.describeMediaStorageConfiguration)},
		// Edge configurations (edge.go).
		{"StartEdgeConfigurationUpdate", "/startEdgeConfigurationUpdate", handle(s, s.startEdgeConfigurationUpdate)},
		{"DescribeEdgeConfiguration", "/describeEdgeConfiguration", handle(s, s.describeEdgeConfiguration)},
		{"DeleteEdgeConfiguration", "/deleteEdgeConfiguration", handle(s, s.deleteEdgeConfiguration)},
		{"ListEdgeAgentConfigurations", "/listEdgeAgentConfigurations", handle(s, s.listEdgeAgentConfigurations)},
	}
	out := make([]awsapi.Operation, len(ops))
	for i, o := range ops {
		out[i] = awsapi.Operation{Name: o.name, Pattern: "POST " + o.path, Handler: o.h}
	}
	return out
}

// handle adapts an operation function to an http.Handler: it decodes the
// JSON body into a fresh In, runs fn and answers with its output (nil
// answers "{}") or its error in the AWS envelope.
func handle[In any](s *Service, fn func(ctx context.Context, r *http.Request, in *In) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := new(In)
		if err := awsapi.DecodeJSON(r, in); err != nil {
			awsapi.WriteError(w, r, err)
			return
		}
		out, err := fn(r.Context(), r, in)
		if err != nil {
			awsapi.WriteError(w, r, s.apiError(err))
			return
		}
		awsapi.WriteJSON(w, out)
	})
}

// newVersion returns a fresh resource version: 20 random alphanumerics.
func newVersion() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	return randomString(alphabet, 20)
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		// 256 is not a multiple of 62; the slight bias is harmless for
		// an opaque version string.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// status is the status a record reports now: CREATING during the
// activation delay, otherwise the stored status.
func (s *Service) status(stored string, created time.Time) string {
	if stored == catalog.StatusActive && s.activation > 0 && s.now().Before(created.Add(s.activation)) {
		return catalog.StatusCreating
	}
	return stored
}

// nowMillis is the current time truncated to milliseconds, the precision of
// ARNs and wire timestamps.
func (s *Service) nowMillis() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}
