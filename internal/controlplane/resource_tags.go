package controlplane

import (
	"context"
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// resourceTags reads the tags of the stream or channel arn names.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, error) {
	a, err := awsapi.ParseARN(arn)
	if err != nil {
		return nil, err
	}
	switch a.Type {
	case "stream":
		st, err := s.getStream(ctx, &streamRef{StreamARN: &arn})
		if err != nil {
			return nil, err
		}
		return st.Tags, nil
	case "channel":
		c, err := s.getChannel(ctx, &channelRef{ChannelARN: &arn})
		if err != nil {
			return nil, err
		}
		return c.Tags, nil
	}
	return nil, awsapi.Errorf(awsapi.ResourceNotFound, "The requested resource %s is not found.", quote(arn))
}

// mutateResourceTags applies fn to the tags of the stream or channel arn
// names.
func (s *Service) mutateResourceTags(ctx context.Context, arn string, fn func(tags *map[string]string) error) error {
	a, err := awsapi.ParseARN(arn)
	if err != nil {
		return err
	}
	switch a.Type {
	case "stream":
		_, err := s.mutateStream(ctx, &streamRef{StreamARN: &arn}, nil, func(st *catalog.Stream) error { return fn(&st.Tags) })
		return err
	case "channel":
		_, err := s.mutateChannel(ctx, &channelRef{ChannelARN: &arn}, nil, func(c *catalog.Channel) error { return fn(&c.Tags) })
		return err
	}
	return awsapi.Errorf(awsapi.ResourceNotFound, "The requested resource %s is not found.", quote(arn))
}

type tagResourceInput struct {
	ResourceARN *string `json:"ResourceARN"`
	Tags        []tag   `json:"Tags"`
}

// tagResource serves TagResource: adds tags (a list of Key/Value) to a
// signaling channel or a stream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_TagResource.html
func (s *Service) tagResource(ctx context.Context, _ *http.Request, in *tagResourceInput) (any, error) {
	var v validator
	if v.required("resourceARN", in.ResourceARN != nil) {
		v.resourceARN("resourceARN", in.ResourceARN)
	}
	var tags map[string]string
	if v.required("tags", in.Tags != nil) {
		if len(in.Tags) == 0 {
			v.count("tags", 0, 1, maxTagsPerResource, "[]")
		}
		tags = tagList(&v, "tags", in.Tags)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(in.Tags) > maxTagsPerResource {
		return nil, errTooManyTags()
	}
	return nil, s.mutateResourceTags(ctx, *in.ResourceARN, func(t *map[string]string) error {
		return mergeTags(t, tags)
	})
}

type untagResourceInput struct {
	ResourceARN *string  `json:"ResourceARN"`
	TagKeyList  []string `json:"TagKeyList"`
}

// untagResource serves UntagResource.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UntagResource.html
func (s *Service) untagResource(ctx context.Context, _ *http.Request, in *untagResourceInput) (any, error) {
	var v validator
	if v.required("resourceARN", in.ResourceARN != nil) {
		v.resourceARN("resourceARN", in.ResourceARN)
	}
	v.tagKeyList("tagKeyList", in.TagKeyList, in.TagKeyList != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	return nil, s.mutateResourceTags(ctx, *in.ResourceARN, func(t *map[string]string) error {
		removeTags(t, in.TagKeyList)
		return nil
	})
}

type listTagsForResourceInput struct {
	ResourceARN *string `json:"ResourceARN"`
	NextToken   *string `json:"NextToken"`
}

// listTagsForResource serves ListTagsForResource (a map, like
// ListTagsForStream; one page).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_ListTagsForResource.html
func (s *Service) listTagsForResource(ctx context.Context, _ *http.Request, in *listTagsForResourceInput) (any, error) {
	var v validator
	if v.required("resourceARN", in.ResourceARN != nil) {
		v.resourceARN("resourceARN", in.ResourceARN)
	}
	v.nextToken("nextToken", in.NextToken)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkNoToken(in.NextToken); err != nil {
		return nil, err
	}
	tags, err := s.resourceTags(ctx, *in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return listTagsOutput{Tags: tagsOut(tags)}, nil
}
