package playback

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// mediaStreamRef is the StreamName | StreamARN pair every media and
// archived-media request names its stream with. Embed it in a request
// struct and call Service.resolveStream.
type mediaStreamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// streamNamePattern is the StreamName pattern of the media models
// (length 1..256).
var streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,256}$`)

// msgStreamNotFound is what KVS answers a missing stream with.
const msgStreamNotFound = "The requested stream is not found or not active."

func errStreamNotFound() error { return awsapi.Errorf(awsapi.ResourceNotFound, msgStreamNotFound) }

// invalid returns an InvalidArgumentException.
func invalid(format string, args ...any) error {
	return awsapi.Errorf(awsapi.InvalidArgument, format, args...)
}

// resolveStream returns the stream ref names. Bad names and ARNs are
// InvalidArgumentException; a missing stream, one being deleted and one
// whose ARN differs from the given ARN (deleted and recreated) are
// ResourceNotFoundException.
func (s *Service) resolveStream(ctx context.Context, ref mediaStreamRef) (*catalog.Stream, error) {
	var name, arn string
	switch {
	case ref.StreamARN != nil:
		a, err := awsapi.ParseARN(*ref.StreamARN)
		if err != nil {
			return nil, invalid("StreamARN %q is not a valid ARN.", clip(*ref.StreamARN))
		}
		if a.Type != "stream" {
			return nil, invalid("StreamARN %q is not a stream ARN.", clip(*ref.StreamARN))
		}
		if ref.StreamName != nil && *ref.StreamName != a.Name {
			return nil, invalid("StreamName and StreamARN name different streams.")
		}
		name, arn = a.Name, *ref.StreamARN
	case ref.StreamName != nil:
		if !streamNamePattern.MatchString(*ref.StreamName) {
			return nil, invalid("StreamName %q must match [a-zA-Z0-9_.-]{1,256}.", clip(*ref.StreamName))
		}
		name = *ref.StreamName
	default:
		return nil, invalid("Either StreamName or StreamARN must be specified.")
	}
	st, err := s.cfg.Streams.GetStream(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errStreamNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get stream %q: %w", name, err)
	}
	if st.Status == catalog.StatusDeleting || (arn != "" && st.ARN != arn) {
		return nil, errStreamNotFound()
	}
	return st, nil
}

// clip shortens client input quoted in error messages.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
