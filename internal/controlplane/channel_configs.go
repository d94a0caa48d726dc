package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// mediaStorageConfiguration is the MediaStorageConfiguration shape, also
// the JSON kept in catalog.Channel.MediaStorage.
type mediaStorageConfiguration struct {
	StreamARN *string `json:"StreamARN,omitempty"`
	Status    *string `json:"Status,omitempty"`
}

// mediaStorage decodes c's media storage configuration; a channel without
// one (or with an unreadable one) is DISABLED.
func mediaStorage(c *catalog.Channel) mediaStorageConfiguration {
	var m mediaStorageConfiguration
	if len(c.MediaStorage) > 0 {
		_ = json.Unmarshal(c.MediaStorage, &m)
	}
	if m.Status == nil {
		disabled := "DISABLED"
		m.Status = &disabled
	}
	return m
}

// channelStoringTo returns the channel, other than the one named except,
// whose enabled media storage configuration writes to streamARN, or nil.
func (s *Service) channelStoringTo(ctx context.Context, streamARN, except string) (*catalog.Channel, error) {
	after := ""
	for {
		page, err := s.store.ListChannels(ctx, catalog.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		for _, c := range page {
			m := mediaStorage(c)
			if c.Name != except && *m.Status == "ENABLED" && m.StreamARN != nil && *m.StreamARN == streamARN {
				return c, nil
			}
		}
		if len(page) < 1000 {
			return nil, nil
		}
		after = page[len(page)-1].Name
	}
}

type updateMediaStorageConfigurationInput struct {
	ChannelARN                *string                    `json:"ChannelARN"`
	MediaStorageConfiguration *mediaStorageConfiguration `json:"MediaStorageConfiguration"`
}

// updateMediaStorageConfiguration serves UpdateMediaStorageConfiguration:
// maps a signaling channel to the stream WebRTC ingestion records into.
// Enabling needs an ACTIVE stream that retains data and that no other
// channel is mapped to.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateMediaStorageConfiguration.html
func (s *Service) updateMediaStorageConfiguration(ctx context.Context, _ *http.Request, in *updateMediaStorageConfigurationInput) (any, error) {
	var v validator
	if v.required("channelARN", in.ChannelARN != nil) {
		v.resourceARN("channelARN", in.ChannelARN)
	}
	const p = "mediaStorageConfiguration"
	if m := in.MediaStorageConfiguration; v.required(p, m != nil) {
		v.resourceARN(p+".streamARN", m.StreamARN)
		if v.required(p+".status", m.Status != nil) {
			v.enum(p+".status", m.Status, "ENABLED", "DISABLED")
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	m := in.MediaStorageConfiguration
	ref := &channelRef{ChannelARN: in.ChannelARN}
	if *m.Status == "ENABLED" {
		if m.StreamARN == nil {
			return nil, invalid("MediaStorageConfiguration.StreamARN is required when Status is ENABLED.")
		}
		st, err := s.getActiveStream(ctx, &streamRef{StreamARN: m.StreamARN})
		if err != nil {
			return nil, err
		}
		if st.DataRetentionInHours == 0 {
			return nil, errNoRetention()
		}
		name, _, err := ref.resolve()
		if err != nil {
			return nil, err
		}
		other, err := s.channelStoringTo(ctx, st.ARN, name)
		if err != nil {
			return nil, err
		}
		if other != nil {
			return nil, awsapi.Errorf(awsapi.ResourceInUse, "The stream %s is already mapped to the signaling channel %s.", st.ARN, other.ARN)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode media storage configuration: %w", err)
	}
	_, err = s.mutateChannel(ctx, ref, nil, func(c *catalog.Channel) error {
		c.MediaStorage = raw
		return nil
	})
	return nil, err
}

type describeMediaStorageConfigurationOutput struct {
	MediaStorageConfiguration mediaStorageConfiguration `json:"MediaStorageConfiguration"`
}

// describeMediaStorageConfiguration serves
// DescribeMediaStorageConfiguration (by ChannelName or ChannelARN); a
// channel never configured reports Status DISABLED.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeMediaStorageConfiguration.html
func (s *Service) describeMediaStorageConfiguration(ctx context.Context, _ *http.Request, in *channelRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	c, err := s.getChannel(ctx, in)
	if err != nil {
		return nil, err
	}
	return describeMediaStorageConfigurationOutput{MediaStorageConfiguration: mediaStorage(c)}, nil
}
