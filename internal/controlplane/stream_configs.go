package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/openkvs/openkvs/internal/catalog"
)

// The stream configurations here are stored-only (see the package doc):
// validated against the service model, kept in the catalog record as JSON
// and returned as set.

// imageGenerationConfiguration is the ImageGenerationConfiguration shape.
type imageGenerationConfiguration struct {
	Status            *string                           `json:"Status,omitempty"`
	ImageSelectorType *string                           `json:"ImageSelectorType,omitempty"`
	DestinationConfig *imageGenerationDestinationConfig `json:"DestinationConfig,omitempty"`
	SamplingInterval  *int64                            `json:"SamplingInterval,omitempty"`
	Format            *string                           `json:"Format,omitempty"`
	FormatConfig      map[string]string                 `json:"FormatConfig,omitempty"`
	WidthPixels       *int64                            `json:"WidthPixels,omitempty"`
	HeightPixels      *int64                            `json:"HeightPixels,omitempty"`
}

// imageGenerationDestinationConfig is the ImageGenerationDestinationConfig
// shape.
type imageGenerationDestinationConfig struct {
	URI               *string `json:"Uri,omitempty"`
	DestinationRegion *string `json:"DestinationRegion,omitempty"`
}

func (c *imageGenerationConfiguration) validate(v *validator, p string) {
	if v.required(p+".status", c.Status != nil) {
		v.enum(p+".status", c.Status, "ENABLED", "DISABLED")
	}
	if v.required(p+".imageSelectorType", c.ImageSelectorType != nil) {
		v.enum(p+".imageSelectorType", c.ImageSelectorType, "SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP")
	}
	if v.required(p+".destinationConfig", c.DestinationConfig != nil) {
		d := c.DestinationConfig
		v.reqStr(p+".destinationConfig.uri", d.URI, 1, 255, uriPattern, `^[a-zA-Z_0-9]+:(//)?([^/]+)/?([^*]*)$`)
		v.reqStr(p+".destinationConfig.destinationRegion", d.DestinationRegion, 9, 14, regionPattern, `^[a-z]+(-[a-z]+)?-[a-z]+-[0-9]$`)
	}
	// The model leaves SamplingInterval unbounded; the API reference
	// documents 200..20000 ms.
	if v.required(p+".samplingInterval", c.SamplingInterval != nil) {
		v.num(p+".samplingInterval", c.SamplingInterval, 200, 20000)
	}
	if v.required(p+".format", c.Format != nil) {
		v.enum(p+".format", c.Format, "JPEG", "PNG")
	}
	if c.FormatConfig != nil {
		v.count(p+".formatConfig", len(c.FormatConfig), 1, 1, fmt.Sprint(c.FormatConfig))
		for k, val := range c.FormatConfig {
			v.enum(p+".formatConfig.key", &k, "JPEGQuality")
			v.str(p+".formatConfig.value", &val, 0, 256, formatValuePattern, `^[a-zA-Z_0-9]+`)
			if q, err := strconv.Atoi(val); k == "JPEGQuality" && (err != nil || q < 1 || q > 100) {
				v.add(quote(val), p+".formatConfig.value", "JPEGQuality must be an integer from 1 to 100")
			}
		}
	}
	v.num(p+".widthPixels", c.WidthPixels, 1, 3840)
	v.num(p+".heightPixels", c.HeightPixels, 1, 2160)
}

type updateImageGenerationConfigurationInput struct {
	streamRef
	ImageGenerationConfiguration *imageGenerationConfiguration `json:"ImageGenerationConfiguration"`
}

// updateImageGenerationConfiguration serves
// UpdateImageGenerationConfiguration (stored-only). A null configuration
// deletes it; enabling one needs a stream that retains data.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateImageGenerationConfiguration.html
func (s *Service) updateImageGenerationConfiguration(ctx context.Context, _ *http.Request, in *updateImageGenerationConfigurationInput) (any, error) {
	var v validator
	in.validate(&v)
	if c := in.ImageGenerationConfiguration; c != nil {
		c.validate(&v, "imageGenerationConfiguration")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if c := in.ImageGenerationConfiguration; c != nil {
		var err error
		if raw, err = json.Marshal(c); err != nil {
			return nil, fmt.Errorf("encode image generation configuration: %w", err)
		}
	}
	_, err := s.mutateStream(ctx, &in.streamRef, nil, func(st *catalog.Stream) error {
		if c := in.ImageGenerationConfiguration; c != nil && *c.Status == "ENABLED" && st.DataRetentionInHours == 0 {
			return errNoRetention()
		}
		st.ImageGeneration = raw
		return nil
	})
	return nil, err
}

type describeImageGenerationConfigurationOutput struct {
	ImageGenerationConfiguration json.RawMessage `json:"ImageGenerationConfiguration,omitempty"`
}

// describeImageGenerationConfiguration serves
// DescribeImageGenerationConfiguration (stored-only): the configuration as
// last set, or none.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeImageGenerationConfiguration.html
func (s *Service) describeImageGenerationConfiguration(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, in)
	if err != nil {
		return nil, err
	}
	return describeImageGenerationConfigurationOutput{ImageGenerationConfiguration: st.ImageGeneration}, nil
}

// notificationConfiguration is the NotificationConfiguration shape.
type notificationConfiguration struct {
	Status            *string `json:"Status,omitempty"`
	DestinationConfig *struct {
		URI *string `json:"Uri,omitempty"`
	} `json:"DestinationConfig,omitempty"`
}

type updateNotificationConfigurationInput struct {
	streamRef
	NotificationConfiguration *notificationConfiguration `json:"NotificationConfiguration"`
}

// updateNotificationConfiguration serves UpdateNotificationConfiguration
// (stored-only). A null configuration deletes it; enabling one needs a
// stream that retains data.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateNotificationConfiguration.html
func (s *Service) updateNotificationConfiguration(ctx context.Context, _ *http.Request, in *updateNotificationConfigurationInput) (any, error) {
	var v validator
	in.validate(&v)
	if c := in.NotificationConfiguration; c != nil {
		const p = "notificationConfiguration"
		if v.required(p+".status", c.Status != nil) {
			v.enum(p+".status", c.Status, "ENABLED", "DISABLED")
		}
		if v.required(p+".destinationConfig", c.DestinationConfig != nil) {
			v.reqStr(p+".destinationConfig.uri", c.DestinationConfig.URI, 1, 255, uriPattern, `^[a-zA-Z_0-9]+:(//)?([^/]+)/?([^*]*)$`)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if c := in.NotificationConfiguration; c != nil {
		var err error
		if raw, err = json.Marshal(c); err != nil {
			return nil, fmt.Errorf("encode notification configuration: %w", err)
		}
	}
	_, err := s.mutateStream(ctx, &in.streamRef, nil, func(st *catalog.Stream) error {
		if c := in.NotificationConfiguration; c != nil && *c.Status == "ENABLED" && st.DataRetentionInHours == 0 {
			return errNoRetention()
		}
		st.Notification = raw
		return nil
	})
	return nil, err
}

type describeNotificationConfigurationOutput struct {
	NotificationConfiguration json.RawMessage `json:"NotificationConfiguration,omitempty"`
}

// describeNotificationConfiguration serves
// DescribeNotificationConfiguration (stored-only).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeNotificationConfiguration.html
func (s *Service) describeNotificationConfiguration(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, in)
	if err != nil {
		return nil, err
	}
	return describeNotificationConfigurationOutput{NotificationConfiguration: st.Notification}, nil
}

type updateStreamStorageConfigurationInput struct {
	streamRef
	CurrentVersion             *string                     `json:"CurrentVersion"`
	StreamStorageConfiguration *streamStorageConfiguration `json:"StreamStorageConfiguration"`
}

// updateStreamStorageConfiguration serves UpdateStreamStorageConfiguration
// (stored-only).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateStreamStorageConfiguration.html
func (s *Service) updateStreamStorageConfiguration(ctx context.Context, _ *http.Request, in *updateStreamStorageConfigurationInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("currentVersion", in.CurrentVersion != nil) {
		v.version("currentVersion", in.CurrentVersion)
	}
	if v.required("streamStorageConfiguration", in.StreamStorageConfiguration != nil) {
		in.StreamStorageConfiguration.validate(&v, "streamStorageConfiguration")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, &in.streamRef, in.CurrentVersion, func(st *catalog.Stream) error {
		st.StorageTier = *in.StreamStorageConfiguration.DefaultStorageTier
		return nil
	})
	return nil, err
}

type describeStreamStorageConfigurationOutput struct {
	StreamName                 string                     `json:"StreamName"`
	StreamARN                  string                     `json:"StreamARN"`
	StreamStorageConfiguration streamStorageConfiguration `json:"StreamStorageConfiguration"`
}

// describeStreamStorageConfiguration serves
// DescribeStreamStorageConfiguration (stored-only; HOT unless set).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeStreamStorageConfiguration.html
func (s *Service) describeStreamStorageConfiguration(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, in)
	if err != nil {
		return nil, err
	}
	tier := st.StorageTier
	if tier == "" {
		tier = "HOT"
	}
	return describeStreamStorageConfigurationOutput{
		StreamName:                 st.Name,
		StreamARN:                  st.ARN,
		StreamStorageConfiguration: streamStorageConfiguration{DefaultStorageTier: &tier},
	}, nil
}

// mappedResourceType is the Type DescribeMappedResourceConfiguration
// reports for a signaling channel whose media storage writes to the stream.
// The service model leaves Type a free-form string and the literal AWS
// uses is not documented; this value is openkvs' choice.
const mappedResourceType = "KINESIS_VIDEO_SIGNALING_CHANNEL"

type describeMappedResourceConfigurationInput struct {
	streamRef
	MaxResults *int64  `json:"MaxResults"`
	NextToken  *string `json:"NextToken"`
}

type mappedResourceConfigurationListItem struct {
	Type string `json:"Type"`
	ARN  string `json:"ARN"`
}

type describeMappedResourceConfigurationOutput struct {
	MappedResourceConfigurationList []mappedResourceConfigurationListItem `json:"MappedResourceConfigurationList"`
	NextToken                       string                                `json:"NextToken,omitempty"`
}

// describeMappedResourceConfiguration serves
// DescribeMappedResourceConfiguration: the signaling channel (at most one)
// whose enabled media storage configuration names the stream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeMappedResourceConfiguration.html
func (s *Service) describeMappedResourceConfiguration(ctx context.Context, _ *http.Request, in *describeMappedResourceConfigurationInput) (any, error) {
	var v validator
	in.validate(&v)
	v.num("maxResults", in.MaxResults, 1, 1)
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
	out := describeMappedResourceConfigurationOutput{MappedResourceConfigurationList: []mappedResourceConfigurationListItem{}}
	c, err := s.channelStoringTo(ctx, st.ARN, "")
	if err != nil {
		return nil, err
	}
	if c != nil {
		out.MappedResourceConfigurationList = append(out.MappedResourceConfigurationList,
			mappedResourceConfigurationListItem{Type: mappedResourceType, ARN: c.ARN})
	}
	return out, nil
}
