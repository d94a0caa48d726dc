package controlplane

import (
	"context"
	"maps"
	"net/http"

	"github.com/openkvs/openkvs/internal/catalog"
)

// mergeTags adds add to *tags, failing with
// TagsPerResourceExceededLimitException when the result would hold more
// than 50 tags.
func mergeTags(tags *map[string]string, add map[string]string) error {
	merged := make(map[string]string, len(*tags)+len(add))
	maps.Copy(merged, *tags)
	maps.Copy(merged, add)
	if len(merged) > maxTagsPerResource {
		return errTooManyTags()
	}
	*tags = merged
	return nil
}

// removeTags deletes keys from *tags; absent keys are ignored.
func removeTags(tags *map[string]string, keys []string) {
	for _, k := range keys {
		delete(*tags, k)
	}
	if len(*tags) == 0 {
		*tags = nil
	}
}

// tagsOut returns tags for a response: never null.
func tagsOut(tags map[string]string) map[string]string {
	if tags == nil {
		return map[string]string{}
	}
	return tags
}

type tagStreamInput struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

// tagStream serves TagStream: adds or overwrites tags of a stream (at most
// 50 in all).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_TagStream.html
func (s *Service) tagStream(ctx context.Context, _ *http.Request, in *tagStreamInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("tags", in.Tags != nil) {
		if len(in.Tags) == 0 {
			v.count("tags", 0, 1, maxTagsPerResource, "{}")
		}
		v.tagMap("tags", in.Tags)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, &in.streamRef, nil, func(st *catalog.Stream) error {
		return mergeTags(&st.Tags, in.Tags)
	})
	return nil, err
}

type untagStreamInput struct {
	streamRef
	TagKeyList []string `json:"TagKeyList"`
}

// untagStream serves UntagStream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UntagStream.html
func (s *Service) untagStream(ctx context.Context, _ *http.Request, in *untagStreamInput) (any, error) {
	var v validator
	in.validate(&v)
	v.tagKeyList("tagKeyList", in.TagKeyList, in.TagKeyList != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, &in.streamRef, nil, func(st *catalog.Stream) error {
		removeTags(&st.Tags, in.TagKeyList)
		return nil
	})
	return nil, err
}

type listTagsForStreamInput struct {
	streamRef
	NextToken *string `json:"NextToken"`
}

type listTagsOutput struct {
	Tags      map[string]string `json:"Tags"`
	NextToken string            `json:"NextToken,omitempty"`
}

// listTagsForStream serves ListTagsForStream. A resource holds at most 50
// tags, so every answer is one page and never carries a NextToken; a
// NextToken in the request must still be well formed.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_ListTagsForStream.html
func (s *Service) listTagsForStream(ctx context.Context, _ *http.Request, in *listTagsForStreamInput) (any, error) {
	var v validator
	in.validate(&v)
	v.nextToken("nextToken", in.NextToken)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkNoToken(in.NextToken); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, &in.streamRef)
	if err != nil {
		return nil, err
	}
	return listTagsOutput{Tags: tagsOut(st.Tags)}, nil
}

// checkNoToken rejects a NextToken on a one-page listing: openkvs never issues
// one, so any non-empty token is invalid.
func checkNoToken(tok *string) error {
	if tok == nil || *tok == "" {
		return nil
	}
	return invalid("The NextToken %s is not valid for this operation.", quote(*tok))
}
