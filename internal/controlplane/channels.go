package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Channel defaults and limits of the service model.
const (
	defaultMessageTTL = 60
	minMessageTTL     = 5
	maxMessageTTL     = 120
)

func (ref *channelRef) validate(v *validator) {
	v.channelName("channelName", ref.ChannelName)
	v.resourceARN("channelARN", ref.ChannelARN)
}

// resolve is streamRef.resolve for channels.
func (ref *channelRef) resolve() (name, arn string, err error) {
	if ref.ChannelARN == nil {
		if ref.ChannelName == nil {
			return "", "", invalid("Either ChannelName or ChannelARN must be specified.")
		}
		return *ref.ChannelName, "", nil
	}
	a, err := awsapi.ParseARN(*ref.ChannelARN)
	if err != nil {
		return "", "", err
	}
	if a.Type != "channel" {
		return "", "", invalid("The ARN %s is not a signaling channel ARN.", quote(*ref.ChannelARN))
	}
	if ref.ChannelName != nil && *ref.ChannelName != a.Name {
		return "", "", invalid("ChannelName %s and ChannelARN %s do not identify the same channel.", quote(*ref.ChannelName), quote(*ref.ChannelARN))
	}
	return a.Name, *ref.ChannelARN, nil
}

// getChannel is getStream for channels.
func (s *Service) getChannel(ctx context.Context, ref *channelRef) (*catalog.Channel, error) {
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	c, err := s.store.GetChannel(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errChannelNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get channel %q: %w", name, err)
	}
	if arn != "" && c.ARN != arn {
		return nil, errChannelNotFound()
	}
	return c, nil
}

// mutateChannel is mutateStream for channels.
func (s *Service) mutateChannel(ctx context.Context, ref *channelRef, currentVersion *string, fn func(*catalog.Channel) error) (*catalog.Channel, error) {
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	c, err := s.store.UpdateChannel(ctx, name, func(c *catalog.Channel) error {
		if arn != "" && c.ARN != arn {
			return errChannelNotFound()
		}
		switch status := s.status(c.Status, c.CreationTime); status {
		case catalog.StatusActive:
		case catalog.StatusDeleting:
			return errChannelNotFound()
		default:
			return errChannelNotActive(status)
		}
		if currentVersion != nil && *currentVersion != c.Version {
			return errChannelVersion()
		}
		if err := fn(c); err != nil {
			return err
		}
		c.Version = newVersion()
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errChannelNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("update channel %q: %w", name, err)
	}
	return c, nil
}

func (c *singleMasterConfiguration) validate(v *validator, path string) {
	if c == nil {
		return
	}
	v.num(path+".messageTtlSeconds", c.MessageTtlSeconds, minMessageTTL, maxMessageTTL)
}

// tagList validates a Tag list (the resource tag operations and
// CreateSignalingChannel) into v and returns it as a map; later
// duplicates win. The count is checked by the caller.
func tagList(v *validator, path string, tags []tag) map[string]string {
	m := make(map[string]string, len(tags))
	for i, t := range tags {
		p := fmt.Sprintf("%s.%d.member", path, i+1)
		ok := v.required(p+".key", t.Key != nil)
		ok = v.required(p+".value", t.Value != nil) && ok
		if !ok {
			continue
		}
		v.tagKey(p+".key", *t.Key)
		v.tagValue(p+".value", *t.Value)
		m[*t.Key] = *t.Value
	}
	return m
}

type createSignalingChannelInput struct {
	ChannelName               *string                    `json:"ChannelName"`
	ChannelType               *string                    `json:"ChannelType"`
	SingleMasterConfiguration *singleMasterConfiguration `json:"SingleMasterConfiguration"`
	Tags                      []tag                      `json:"Tags"`
}

type createSignalingChannelOutput struct {
	ChannelARN string `json:"ChannelARN"`
}

// createSignalingChannel serves CreateSignalingChannel. ChannelType
// defaults to SINGLE_MASTER and MessageTtlSeconds to 60.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_CreateSignalingChannel.html
func (s *Service) createSignalingChannel(ctx context.Context, _ *http.Request, in *createSignalingChannelInput) (any, error) {
	var v validator
	if v.required("channelName", in.ChannelName != nil) {
		v.channelName("channelName", in.ChannelName)
	}
	v.enum("channelType", in.ChannelType, "SINGLE_MASTER", "FULL_MESH")
	in.SingleMasterConfiguration.validate(&v, "singleMasterConfiguration")
	tags := tagList(&v, "tags", in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(in.Tags) > maxTagsPerResource || len(tags) > maxTagsPerResource {
		return nil, errTooManyTags()
	}
	n, err := s.store.CountChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("count channels: %w", err)
	}
	if n >= s.maxChannels {
		return nil, awsapi.Errorf(awsapi.AccountChannelLimitExceeded,
			"You have reached the maximum limit of active signaling channels for this account (limit %d).", s.maxChannels)
	}
	now := s.nowMillis()
	c := &catalog.Channel{
		Name:              *in.ChannelName,
		ARN:               awsapi.NewARN(s.region, s.account, "channel", *in.ChannelName, now),
		Type:              "SINGLE_MASTER",
		Status:            catalog.StatusActive,
		Version:           newVersion(),
		CreationTime:      now,
		MessageTTLSeconds: defaultMessageTTL,
	}
	if in.ChannelType != nil {
		c.Type = *in.ChannelType
	}
	if smc := in.SingleMasterConfiguration; smc != nil && smc.MessageTtlSeconds != nil {
		c.MessageTTLSeconds = int(*smc.MessageTtlSeconds)
	}
	if len(tags) > 0 {
		c.Tags = tags
	}
	if err := s.store.CreateChannel(ctx, c); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return nil, awsapi.Errorf(awsapi.ResourceInUse, "The signaling channel %s already exists.", c.Name)
		}
		return nil, fmt.Errorf("create channel %q: %w", c.Name, err)
	}
	s.log.Info("signaling channel created", "channel", c.ARN)
	return createSignalingChannelOutput{ChannelARN: c.ARN}, nil
}

type describeSignalingChannelInput struct {
	channelRef
}

type describeSignalingChannelOutput struct {
	ChannelInfo channelInfo `json:"ChannelInfo"`
}

// describeSignalingChannel serves DescribeSignalingChannel (by ChannelName
// or ChannelARN).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeSignalingChannel.html
func (s *Service) describeSignalingChannel(ctx context.Context, _ *http.Request, in *describeSignalingChannelInput) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	c, err := s.getChannel(ctx, &in.channelRef)
	if err != nil {
		return nil, err
	}
	return describeSignalingChannelOutput{ChannelInfo: s.channelInfo(c)}, nil
}

type listSignalingChannelsInput struct {
	MaxResults           *int64         `json:"MaxResults"`
	NextToken            *string        `json:"NextToken"`
	ChannelNameCondition *nameCondition `json:"ChannelNameCondition"`
}

type listSignalingChannelsOutput struct {
	ChannelInfoList []channelInfo `json:"ChannelInfoList"`
	NextToken       string        `json:"NextToken,omitempty"`
}

// listSignalingChannels serves ListSignalingChannels (500 per page unless
// MaxResults says otherwise).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_ListSignalingChannels.html
func (s *Service) listSignalingChannels(ctx context.Context, _ *http.Request, in *listSignalingChannelsInput) (any, error) {
	var v validator
	v.num("maxResults", in.MaxResults, 1, 10000)
	v.nextToken("nextToken", in.NextToken)
	in.ChannelNameCondition.validate(&v, "channelNameCondition")
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := 500
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	var after string
	if in.NextToken != nil {
		var err error
		if after, err = decodeToken(tokenChannels, *in.NextToken); err != nil {
			return nil, err
		}
	}
	list, err := s.store.ListChannels(ctx, catalog.ListOptions{Prefix: in.ChannelNameCondition.prefix(), After: after, Limit: limit + 1})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	out := listSignalingChannelsOutput{ChannelInfoList: make([]channelInfo, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodeToken(tokenChannels, list[len(list)-1].Name)
	}
	for _, c := range list {
		out.ChannelInfoList = append(out.ChannelInfoList, s.channelInfo(c))
	}
	return out, nil
}

type updateSignalingChannelInput struct {
	ChannelARN                *string                    `json:"ChannelARN"`
	CurrentVersion            *string                    `json:"CurrentVersion"`
	SingleMasterConfiguration *singleMasterConfiguration `json:"SingleMasterConfiguration"`
}

// updateSignalingChannel serves UpdateSignalingChannel.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateSignalingChannel.html
func (s *Service) updateSignalingChannel(ctx context.Context, _ *http.Request, in *updateSignalingChannelInput) (any, error) {
	var v validator
	if v.required("channelARN", in.ChannelARN != nil) {
		v.resourceARN("channelARN", in.ChannelARN)
	}
	if v.required("currentVersion", in.CurrentVersion != nil) {
		v.version("currentVersion", in.CurrentVersion)
	}
	in.SingleMasterConfiguration.validate(&v, "singleMasterConfiguration")
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateChannel(ctx, &channelRef{ChannelARN: in.ChannelARN}, in.CurrentVersion, func(c *catalog.Channel) error {
		if smc := in.SingleMasterConfiguration; smc != nil && smc.MessageTtlSeconds != nil {
			c.MessageTTLSeconds = int(*smc.MessageTtlSeconds)
		}
		return nil
	})
	return nil, err
}

type deleteSignalingChannelInput struct {
	ChannelARN     *string `json:"ChannelARN"`
	CurrentVersion *string `json:"CurrentVersion"`
}

// deleteSignalingChannel serves DeleteSignalingChannel; as deleteStream,
// it marks, removes and then tells Config.OnChannelDeleted.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DeleteSignalingChannel.html
func (s *Service) deleteSignalingChannel(ctx context.Context, _ *http.Request, in *deleteSignalingChannelInput) (any, error) {
	var v validator
	if v.required("channelARN", in.ChannelARN != nil) {
		v.resourceARN("channelARN", in.ChannelARN)
	}
	v.version("currentVersion", in.CurrentVersion)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref := &channelRef{ChannelARN: in.ChannelARN}
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	c, err := s.store.UpdateChannel(ctx, name, func(c *catalog.Channel) error {
		if c.ARN != arn || c.Status == catalog.StatusDeleting {
			return errChannelNotFound()
		}
		if in.CurrentVersion != nil && *in.CurrentVersion != c.Version {
			return errChannelVersion()
		}
		c.Status = catalog.StatusDeleting
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errChannelNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("mark channel %q deleting: %w", name, err)
	}
	if err := s.store.DeleteChannel(ctx, name); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("delete channel %q: %w", name, err)
	}
	s.log.Info("signaling channel deleted", "channel", c.ARN)
	if s.onChanDel != nil {
		s.onChanDel(ctx, c)
	}
	return nil, nil
}
