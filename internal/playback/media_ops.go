package playback

import (
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// mediaOperations returns GetMedia, ListFragments and
// GetMediaForFragmentList.
func (s *Service) mediaOperations() []awsapi.Operation {
	return []awsapi.Operation{
		{Name: "GetMedia", Pattern: "POST /getMedia", Handler: http.HandlerFunc(s.getMedia)},
		{Name: "ListFragments", Pattern: "POST /listFragments", Handler: http.HandlerFunc(s.listFragments)},
		{Name: "GetMediaForFragmentList", Pattern: "POST /getMediaForFragmentList", Handler: http.HandlerFunc(s.getMediaForFragmentList)},
	}
}
