package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// validate records the model constraints of the pair into v.
func (ref *streamRef) validate(v *validator) {
	v.streamName("streamName", ref.StreamName)
	v.resourceARN("streamARN", ref.StreamARN)
}

// resolve returns the name to look up and, when an ARN was given, the ARN
// the stored record must have. Call it after validate succeeded.
func (ref *streamRef) resolve() (name, arn string, err error) {
	if ref.StreamARN == nil {
		if ref.StreamName == nil {
			return "", "", invalid("Either StreamName or StreamARN must be specified.")
		}
		return *ref.StreamName, "", nil
	}
	a, err := awsapi.ParseARN(*ref.StreamARN)
	if err != nil {
		return "", "", err
	}
	if a.Type != "stream" {
		return "", "", invalid("The ARN %s is not a stream ARN.", quote(*ref.StreamARN))
	}
	if ref.StreamName != nil && *ref.StreamName != a.Name {
		return "", "", invalid("StreamName %s and StreamARN %s do not identify the same stream.", quote(*ref.StreamName), quote(*ref.StreamARN))
	}
	return a.Name, *ref.StreamARN, nil
}

// getStream returns the stream ref names. A missing stream, one whose ARN
// differs from the given ARN (deleted and recreated) and one being deleted
// are all ResourceNotFoundException.
func (s *Service) getStream(ctx context.Context, ref *streamRef) (*catalog.Stream, error) {
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	st, err := s.store.GetStream(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errStreamNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get stream %q: %w", name, err)
	}
	if arn != "" && st.ARN != arn {
		return nil, errStreamNotFound()
	}
	return st, nil
}

// getActiveStream is getStream for operations that need the stream ACTIVE.
func (s *Service) getActiveStream(ctx context.Context, ref *streamRef) (*catalog.Stream, error) {
	st, err := s.getStream(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch status := s.status(st.Status, st.CreationTime); status {
	case catalog.StatusActive:
		return st, nil
	case catalog.StatusDeleting:
		return nil, errStreamNotFound()
	default:
		return nil, errStreamNotActive(status)
	}
}

// mutateStream atomically applies fn to the stream ref names, after
// checking, inside the same transaction, that it is the stream the ARN
// names, that it is ACTIVE and (when currentVersion is non-nil) that its
// version is *currentVersion. The stored record gets a new version.
func (s *Service) mutateStream(ctx context.Context, ref *streamRef, currentVersion *string, fn func(*catalog.Stream) error) (*catalog.Stream, error) {
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	st, err := s.store.UpdateStream(ctx, name, func(st *catalog.Stream) error {
		if arn != "" && st.ARN != arn {
			return errStreamNotFound()
		}
		switch status := s.status(st.Status, st.CreationTime); status {
		case catalog.StatusActive:
		case catalog.StatusDeleting:
			return errStreamNotFound()
		default:
			return errStreamNotActive(status)
		}
		if currentVersion != nil && *currentVersion != st.Version {
			return errStreamVersion()
		}
		if err := fn(st); err != nil {
			return err
		}
		st.Version = newVersion()
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errStreamNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("update stream %q: %w", name, err)
	}
	return st, nil
}

// streamStorageConfiguration is the StreamStorageConfiguration shape.
type streamStorageConfiguration struct {
	DefaultStorageTier *string `json:"DefaultStorageTier"`
}

func (c *streamStorageConfiguration) validate(v *validator, path string) {
	if c == nil {
		return
	}
	if v.required(path+".defaultStorageTier", c.DefaultStorageTier != nil) {
		v.enum(path+".defaultStorageTier", c.DefaultStorageTier, "HOT", "WARM")
	}
}

type createStreamInput struct {
	StreamName                 *string                     `json:"StreamName"`
	DeviceName                 *string                     `json:"DeviceName"`
	MediaType                  *string                     `json:"MediaType"`
	KmsKeyID                   *string                     `json:"KmsKeyId"`
	DataRetentionInHours       *int64                      `json:"DataRetentionInHours"`
	Tags                       map[string]string           `json:"Tags"`
	StreamStorageConfiguration *streamStorageConfiguration `json:"StreamStorageConfiguration"`
}

type createStreamOutput struct {
	StreamARN string `json:"StreamARN"`
}

// createStream serves CreateStream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_CreateStream.html
func (s *Service) createStream(ctx context.Context, _ *http.Request, in *createStreamInput) (any, error) {
	var v validator
	if v.required("streamName", in.StreamName != nil) {
		v.streamName("streamName", in.StreamName)
	}
	v.str("deviceName", in.DeviceName, 1, 128, namePattern, `[a-zA-Z0-9_.-]+`)
	v.str("mediaType", in.MediaType, 1, 128, mediaTypePattern, `[\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*`)
	v.str("kmsKeyId", in.KmsKeyID, 1, 2048, anyPattern, `.+`)
	v.num("dataRetentionInHours", in.DataRetentionInHours, 0, maxRetentionHours)
	v.tagMap("tags", in.Tags)
	in.StreamStorageConfiguration.validate(&v, "streamStorageConfiguration")
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(in.Tags) > maxTagsPerResource {
		return nil, errTooManyTags()
	}
	n, err := s.store.CountStreams(ctx)
	if err != nil {
		return nil, fmt.Errorf("count streams: %w", err)
	}
	if n >= s.maxStreams {
		return nil, awsapi.Errorf(awsapi.AccountStreamLimitExceeded,
			"The number of streams created for the account is too high (limit %d).", s.maxStreams)
	}
	now := s.nowMillis()
	st := &catalog.Stream{
		Name:         *in.StreamName,
		ARN:          awsapi.NewARN(s.region, s.account, "stream", *in.StreamName, now),
		KmsKeyID:     fmt.Sprintf("arn:aws:kms:%s:%s:alias/aws/kinesisvideo", s.region, s.account),
		Version:      newVersion(),
		Status:       catalog.StatusActive,
		CreationTime: now,
		StorageTier:  "HOT",
	}
	if in.DeviceName != nil {
		st.DeviceName = *in.DeviceName
	}
	if in.MediaType != nil {
		st.MediaType = *in.MediaType
	}
	if in.KmsKeyID != nil {
		st.KmsKeyID = *in.KmsKeyID
	}
	if in.DataRetentionInHours != nil {
		st.DataRetentionInHours = int(*in.DataRetentionInHours)
	}
	if len(in.Tags) > 0 {
		st.Tags = make(map[string]string, len(in.Tags))
		for k, val := range in.Tags {
			st.Tags[k] = val
		}
	}
	if c := in.StreamStorageConfiguration; c != nil {
		st.StorageTier = *c.DefaultStorageTier
	}
	if err := s.store.CreateStream(ctx, st); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return nil, awsapi.Errorf(awsapi.ResourceInUse, "The stream %s already exists.", st.Name)
		}
		return nil, fmt.Errorf("create stream %q: %w", st.Name, err)
	}
	s.log.Info("stream created", "stream", st.ARN)
	return createStreamOutput{StreamARN: st.ARN}, nil
}

type describeStreamInput struct {
	streamRef
}

type describeStreamOutput struct {
	StreamInfo streamInfo `json:"StreamInfo"`
}

// describeStream serves DescribeStream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeStream.html
func (s *Service) describeStream(ctx context.Context, _ *http.Request, in *describeStreamInput) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, &in.streamRef)
	if err != nil {
		return nil, err
	}
	return describeStreamOutput{StreamInfo: s.streamInfo(st)}, nil
}

// nameCondition is the StreamNameCondition / ChannelNameCondition shape.
type nameCondition struct {
	ComparisonOperator *string `json:"ComparisonOperator"`
	ComparisonValue    *string `json:"ComparisonValue"`
}

func (c *nameCondition) validate(v *validator, path string) {
	if c == nil {
		return
	}
	v.enum(path+".comparisonOperator", c.ComparisonOperator, "BEGINS_WITH")
	v.str(path+".comparisonValue", c.ComparisonValue, 1, 256, namePattern, `[a-zA-Z0-9_.-]+`)
}

// prefix is the name prefix the condition selects ("" for all).
func (c *nameCondition) prefix() string {
	if c == nil || c.ComparisonValue == nil {
		return ""
	}
	return *c.ComparisonValue
}

type listStreamsInput struct {
	MaxResults          *int64         `json:"MaxResults"`
	NextToken           *string        `json:"NextToken"`
	StreamNameCondition *nameCondition `json:"StreamNameCondition"`
}

type listStreamsOutput struct {
	StreamInfoList []streamInfo `json:"StreamInfoList"`
	NextToken      string       `json:"NextToken,omitempty"`
}

// listStreams serves ListStreams.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_ListStreams.html
func (s *Service) listStreams(ctx context.Context, _ *http.Request, in *listStreamsInput) (any, error) {
	var v validator
	v.num("maxResults", in.MaxResults, 1, 10000)
	v.nextToken("nextToken", in.NextToken)
	in.StreamNameCondition.validate(&v, "streamNameCondition")
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := 10000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	var after string
	if in.NextToken != nil {
		var err error
		if after, err = decodeToken(tokenStreams, *in.NextToken); err != nil {
			return nil, err
		}
	}
	list, err := s.store.ListStreams(ctx, catalog.ListOptions{Prefix: in.StreamNameCondition.prefix(), After: after, Limit: limit + 1})
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	out := listStreamsOutput{StreamInfoList: make([]streamInfo, 0, len(list))}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodeToken(tokenStreams, list[len(list)-1].Name)
	}
	for _, st := range list {
		out.StreamInfoList = append(out.StreamInfoList, s.streamInfo(st))
	}
	return out, nil
}

type updateStreamInput struct {
	streamRef
	CurrentVersion *string `json:"CurrentVersion"`
	DeviceName     *string `json:"DeviceName"`
	MediaType      *string `json:"MediaType"`
}

// updateStream serves UpdateStream.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateStream.html
func (s *Service) updateStream(ctx context.Context, _ *http.Request, in *updateStreamInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("currentVersion", in.CurrentVersion != nil) {
		v.version("currentVersion", in.CurrentVersion)
	}
	v.str("deviceName", in.DeviceName, 1, 128, namePattern, `[a-zA-Z0-9_.-]+`)
	v.str("mediaType", in.MediaType, 1, 128, mediaTypePattern, `[\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*`)
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, &in.streamRef, in.CurrentVersion, func(st *catalog.Stream) error {
		if in.DeviceName != nil {
			st.DeviceName = *in.DeviceName
		}
		if in.MediaType != nil {
			st.MediaType = *in.MediaType
		}
		return nil
	})
	return nil, err
}

type deleteStreamInput struct {
	StreamARN      *string `json:"StreamARN"`
	CurrentVersion *string `json:"CurrentVersion"`
}

// deleteStream serves DeleteStream. The record is marked DELETING (the
// version check and the mark are one transaction), removed, and then
// Config.OnStreamDeleted is told.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DeleteStream.html
func (s *Service) deleteStream(ctx context.Context, _ *http.Request, in *deleteStreamInput) (any, error) {
	var v validator
	if v.required("streamARN", in.StreamARN != nil) {
		v.resourceARN("streamARN", in.StreamARN)
	}
	v.version("currentVersion", in.CurrentVersion)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref := &streamRef{StreamARN: in.StreamARN}
	name, arn, err := ref.resolve()
	if err != nil {
		return nil, err
	}
	st, err := s.store.UpdateStream(ctx, name, func(st *catalog.Stream) error {
		if st.ARN != arn || st.Status == catalog.StatusDeleting {
			return errStreamNotFound()
		}
		if in.CurrentVersion != nil && *in.CurrentVersion != st.Version {
			return errStreamVersion()
		}
		st.Status = catalog.StatusDeleting
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errStreamNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("mark stream %q deleting: %w", name, err)
	}
	if err := s.store.DeleteStream(ctx, name); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("delete stream %q: %w", name, err)
	}
	s.log.Info("stream deleted", "stream", st.ARN)
	if s.onStreamDel != nil {
		s.onStreamDel(ctx, st)
	}
	return nil, nil
}

type updateDataRetentionInput struct {
	streamRef
	CurrentVersion             *string `json:"CurrentVersion"`
	Operation                  *string `json:"Operation"`
	DataRetentionChangeInHours *int64  `json:"DataRetentionChangeInHours"`
}

// updateDataRetention serves UpdateDataRetention. The result must stay
// within 0..87600 hours.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_UpdateDataRetention.html
func (s *Service) updateDataRetention(ctx context.Context, _ *http.Request, in *updateDataRetentionInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("currentVersion", in.CurrentVersion != nil) {
		v.version("currentVersion", in.CurrentVersion)
	}
	if v.required("operation", in.Operation != nil) {
		v.enum("operation", in.Operation, "INCREASE_DATA_RETENTION", "DECREASE_DATA_RETENTION")
	}
	if v.required("dataRetentionChangeInHours", in.DataRetentionChangeInHours != nil) {
		v.num("dataRetentionChangeInHours", in.DataRetentionChangeInHours, 1, 1<<31-1)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, &in.streamRef, in.CurrentVersion, func(st *catalog.Stream) error {
		cur, change := int64(st.DataRetentionInHours), *in.DataRetentionChangeInHours
		switch *in.Operation {
		case "INCREASE_DATA_RETENTION":
			if cur+change > maxRetentionHours {
				return invalid("The data retention of the stream cannot be increased above %d hours (current %d, change %d).", maxRetentionHours, cur, change)
			}
			st.DataRetentionInHours = int(cur + change)
		default:
			if cur-change < 0 {
				return invalid("The data retention of the stream cannot be decreased below 0 hours (current %d, change %d).", cur, change)
			}
			st.DataRetentionInHours = int(cur - change)
		}
		return nil
	})
	return nil, err
}
