package controlplane

import (
	"errors"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Errors New returns for an unusable Config.
var (
	// ErrNoStore: Config.Store is nil.
	ErrNoStore = errors.New("controlplane: Config.Store is required")
	// ErrNoEndpoints: Config.Endpoints is nil.
	ErrNoEndpoints = errors.New("controlplane: Config.Endpoints is required")
	// ErrNegativeDelay: Config.ActivationDelay is negative.
	ErrNegativeDelay = errors.New("controlplane: Config.ActivationDelay must not be negative")
)

// The messages KVS answers missing resources with.
const (
	msgStreamNotFound  = "The requested stream is not found or not active."
	msgChannelNotFound = "The requested channel is not found or not active."
)

func errStreamNotFound() error  { return awsapi.Errorf(awsapi.ResourceNotFound, msgStreamNotFound) }
func errChannelNotFound() error { return awsapi.Errorf(awsapi.ResourceNotFound, msgChannelNotFound) }

func errStreamVersion() error {
	return awsapi.Errorf(awsapi.VersionMismatch,
		"The stream version you specified is not the latest version. To get the latest version, use the DescribeStream API.")
}

func errChannelVersion() error {
	return awsapi.Errorf(awsapi.VersionMismatch,
		"The signaling channel version you specified is not the latest version. To get the latest version, use the DescribeSignalingChannel API.")
}

func errStreamNotActive(status string) error {
	return awsapi.Errorf(awsapi.ResourceInUse, "The stream is in %s status; it must be ACTIVE for this operation.", status)
}

func errChannelNotActive(status string) error {
	return awsapi.Errorf(awsapi.ResourceInUse, "The signaling channel is in %s status; it must be ACTIVE for this operation.", status)
}

func errNoRetention() error {
	return awsapi.Errorf(awsapi.NoDataRetention, "The stream data retention in hours is equal to zero.")
}

// apiError maps what an operation returned to an error carrying an AWS
// code. Errors that already carry one pass through; catalog sentinels that
// escaped the resource-specific mapping get a generic message; anything
// else is an internal failure (WriteError logs it and hides its text).
func (s *Service) apiError(err error) error {
	var e *awsapi.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, catalog.ErrNotFound):
		return awsapi.Errorf(awsapi.ResourceNotFound, "The requested resource is not found or not active.")
	case errors.Is(err, catalog.ErrExists):
		return awsapi.Errorf(awsapi.ResourceInUse, "The resource already exists.")
	default:
		s.log.Error("control plane operation failed", "err", err)
		return err
	}
}

func errTooManyTags() error {
	return awsapi.Errorf(awsapi.TagsPerResourceExceededLimit,
		"You have exceeded the limit of tags that you can associate with the resource. A resource can support up to %d tags.", maxTagsPerResource)
}
