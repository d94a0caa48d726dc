// Package catalog defines the metadata records of openkvs (video streams and
// signaling channels) and the Store contract every metadata backend satisfies.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors every Store returns (wrapped or not); test with errors.Is.
var (
	// ErrNotFound: no record with that name.
	ErrNotFound = errors.New("catalog: not found")
	// ErrExists: a record with that name already exists.
	ErrExists = errors.New("catalog: already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("catalog: store closed")
)

// Resource status values, as KVS names them.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusUpdating = "UPDATING"
	StatusDeleting = "DELETING"
)

// Stream is a Kinesis video stream's metadata.
type Stream struct {
	Name                 string            `json:"name"`
	ARN                  string            `json:"arn"`
	DeviceName           string            `json:"deviceName,omitempty"`
	MediaType            string            `json:"mediaType,omitempty"`
	KmsKeyID             string            `json:"kmsKeyId,omitempty"`
	Version              string            `json:"version"`
	Status               string            `json:"status"`
	CreationTime         time.Time         `json:"creationTime"`
	DataRetentionInHours int               `json:"dataRetentionInHours"`
	Tags                 map[string]string `json:"tags,omitempty"`
	// StorageTier is StreamStorageConfiguration.DefaultStorageTier (HOT|WARM).
	StorageTier string `json:"storageTier,omitempty"`

	// Stored-only configurations, kept as the JSON the client sent (already
	// validated by the control plane) and returned as is.
	ImageGeneration json.RawMessage `json:"imageGeneration,omitempty"`
	Notification    json.RawMessage `json:"notification,omitempty"`
	// Edge is the edge configuration record (EdgeConfig plus sync status).
	Edge json.RawMessage `json:"edge,omitempty"`
}

// Channel is a signaling channel's metadata.
type Channel struct {
	Name              string            `json:"name"`
	ARN               string            `json:"arn"`
	Type              string            `json:"type"`
	Status            string            `json:"status"`
	Version           string            `json:"version"`
	CreationTime      time.Time         `json:"creationTime"`
	MessageTTLSeconds int               `json:"messageTtlSeconds"`
	Tags              map[string]string `json:"tags,omitempty"`
	// MediaStorage is MediaStorageConfiguration as the client sent it.
	MediaStorage json.RawMessage `json:"mediaStorage,omitempty"`
}

// ListOptions selects one page of a name-ordered listing.
type ListOptions struct {
	// Prefix keeps only names that begin with it ("" keeps all).
	Prefix string
	// After starts the page after this name ("" starts at the beginning).
	After string
	// Limit is the page size; 0 means no limit.
	Limit int
}

// Store keeps streams and channels. Implementations are safe for concurrent
// use; every method is atomic. Reads see every write that returned before
// they started (strong read-after-write consistency).
type Store interface {
	// CreateStream adds s; ErrExists if the name is taken.
	CreateStream(ctx context.Context, s *Stream) error
	// GetStream returns the stream named name; ErrNotFound if none.
	GetStream(ctx context.Context, name string) (*Stream, error)
	// UpdateStream reads the stream, calls fn on a copy and stores the
	// result, atomically. If fn returns an error nothing is stored and the
	// error is returned. It returns the stored record.
	UpdateStream(ctx context.Context, name string, fn func(*Stream) error) (*Stream, error)
	// DeleteStream removes the stream; ErrNotFound if none.
	DeleteStream(ctx context.Context, name string) error
	// ListStreams returns streams in name order.
	ListStreams(ctx context.Context, opt ListOptions) ([]*Stream, error)
	// CountStreams returns the number of streams.
	CountStreams(ctx context.Context) (int, error)

	// CreateChannel adds c; ErrExists if the name is taken.
	CreateChannel(ctx context.Context, c *Channel) error
	// GetChannel returns the channel named name; ErrNotFound if none.
	GetChannel(ctx context.Context, name string) (*Channel, error)
	// UpdateChannel is UpdateStream for channels.
	UpdateChannel(ctx context.Context, name string, fn func(*Channel) error) (*Channel, error)
	// DeleteChannel removes the channel; ErrNotFound if none.
	DeleteChannel(ctx context.Context, name string) error
	// ListChannels returns channels in name order.
	ListChannels(ctx context.Context, opt ListOptions) ([]*Channel, error)
	// CountChannels returns the number of channels.
	CountChannels(ctx context.Context) (int, error)

	// Close releases the store.
	Close() error
}
