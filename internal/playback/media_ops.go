package playback

import "github.com/openkvs/openkvs/internal/awsapi"

// mediaOperations returns GetMedia, ListFragments and
// GetMediaForFragmentList.
func (s *Service) mediaOperations() []awsapi.Operation {
	return nil
}
