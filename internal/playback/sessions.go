package playback

import "github.com/openkvs/openkvs/internal/awsapi"

// SessionConfig configures HLS and DASH streaming sessions, GetClip and
// GetImages.
type SessionConfig struct {
}

// sessionOperations returns GetHLSStreamingSessionURL,
// GetDASHStreamingSessionURL, their playlist and segment resources,
// GetClip and GetImages.
func (s *Service) sessionOperations() []awsapi.Operation {
	return nil
}
