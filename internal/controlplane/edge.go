package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Edge configurations are stored-only: openkvs has no edge agent, so a
// configuration stays in SyncStatus SYNCING, and a new
// StartEdgeConfigurationUpdate is accepted at any time (AWS refuses one
// while SYNCING, waiting for the agent, which would lock a configuration
// here forever).

// edgeConfig is the EdgeConfig shape.
type edgeConfig struct {
	HubDeviceArn   *string         `json:"HubDeviceArn,omitempty"`
	RecorderConfig *recorderConfig `json:"RecorderConfig,omitempty"`
	UploaderConfig *uploaderConfig `json:"UploaderConfig,omitempty"`
	DeletionConfig *deletionConfig `json:"DeletionConfig,omitempty"`
}

type recorderConfig struct {
	MediaSourceConfig *mediaSourceConfig `json:"MediaSourceConfig,omitempty"`
	ScheduleConfig    *scheduleConfig    `json:"ScheduleConfig,omitempty"`
}

type mediaSourceConfig struct {
	MediaURISecretArn *string `json:"MediaUriSecretArn,omitempty"`
	MediaURIType      *string `json:"MediaUriType,omitempty"`
}

type scheduleConfig struct {
	ScheduleExpression *string `json:"ScheduleExpression,omitempty"`
	DurationInSeconds  *int64  `json:"DurationInSeconds,omitempty"`
}

type uploaderConfig struct {
	ScheduleConfig *scheduleConfig `json:"ScheduleConfig,omitempty"`
}

type deletionConfig struct {
	EdgeRetentionInHours *int64           `json:"EdgeRetentionInHours,omitempty"`
	LocalSizeConfig      *localSizeConfig `json:"LocalSizeConfig,omitempty"`
	DeleteAfterUpload    *bool            `json:"DeleteAfterUpload,omitempty"`
}

type localSizeConfig struct {
	MaxLocalMediaSizeInMB *int64  `json:"MaxLocalMediaSizeInMB,omitempty"`
	StrategyOnFullSize    *string `json:"StrategyOnFullSize,omitempty"`
}

func (c *scheduleConfig) validate(v *validator, p string) {
	v.reqStr(p+".scheduleExpression", c.ScheduleExpression, 11, 100, scheduleExpr, `[^\n]{11,100}`)
	if v.required(p+".durationInSeconds", c.DurationInSeconds != nil) {
		v.num(p+".durationInSeconds", c.DurationInSeconds, 60, 3600)
	}
}

func (c *edgeConfig) validate(v *validator, p string) {
	v.reqStr(p+".hubDeviceArn", c.HubDeviceArn, 1, 1024, hubDevicePattern, `arn:[a-z\d-]+:iot:[a-z0-9-]+:[0-9]+:thing/[a-zA-Z0-9_.-]+`)
	if r := c.RecorderConfig; v.required(p+".recorderConfig", r != nil) {
		rp := p + ".recorderConfig"
		if m := r.MediaSourceConfig; v.required(rp+".mediaSourceConfig", m != nil) {
			mp := rp + ".mediaSourceConfig"
			v.reqStr(mp+".mediaUriSecretArn", m.MediaURISecretArn, 20, 2048, secretArnPattern, `arn:[a-z\d-]+:secretsmanager:[a-z0-9-]+:[0-9]+:secret:[a-zA-Z0-9_.-]+`)
			if v.required(mp+".mediaUriType", m.MediaURIType != nil) {
				v.enum(mp+".mediaUriType", m.MediaURIType, "RTSP_URI", "FILE_URI")
			}
		}
		if r.ScheduleConfig != nil {
			r.ScheduleConfig.validate(v, rp+".scheduleConfig")
		}
	}
	if u := c.UploaderConfig; u != nil {
		if v.required(p+".uploaderConfig.scheduleConfig", u.ScheduleConfig != nil) {
			u.ScheduleConfig.validate(v, p+".uploaderConfig.scheduleConfig")
		}
	}
	if d := c.DeletionConfig; d != nil {
		dp := p + ".deletionConfig"
		v.num(dp+".edgeRetentionInHours", d.EdgeRetentionInHours, 1, 720)
		if l := d.LocalSizeConfig; l != nil {
			v.num(dp+".localSizeConfig.maxLocalMediaSizeInMB", l.MaxLocalMediaSizeInMB, 64, 2000000)
			v.enum(dp+".localSizeConfig.strategyOnFullSize", l.StrategyOnFullSize, "DELETE_OLDEST_MEDIA", "DENY_NEW_MEDIA")
		}
	}
}

// edgeRecord is what catalog.Stream.Edge holds.
type edgeRecord struct {
	EdgeConfig          *edgeConfig `json:"edgeConfig"`
	SyncStatus          string      `json:"syncStatus"`
	FailedStatusDetails string      `json:"failedStatusDetails,omitempty"`
	CreationTime        time.Time   `json:"creationTime"`
	LastUpdatedTime     time.Time   `json:"lastUpdatedTime"`
}

// edgeOf decodes st's edge record; ok is false when it has none.
func edgeOf(st *catalog.Stream) (rec edgeRecord, ok bool) {
	if len(st.Edge) == 0 || json.Unmarshal(st.Edge, &rec) != nil || rec.EdgeConfig == nil {
		return edgeRecord{}, false
	}
	return rec, true
}

// edgeOutput is the output of StartEdgeConfigurationUpdate and
// DescribeEdgeConfiguration, and the ListEdgeAgentConfigurationsEdgeConfig
// shape.
type edgeOutput struct {
	StreamName          string            `json:"StreamName"`
	StreamARN           string            `json:"StreamARN"`
	CreationTime        *awsapi.Timestamp `json:"CreationTime,omitempty"`
	LastUpdatedTime     *awsapi.Timestamp `json:"LastUpdatedTime,omitempty"`
	SyncStatus          string            `json:"SyncStatus"`
	FailedStatusDetails string            `json:"FailedStatusDetails,omitempty"`
	EdgeConfig          *edgeConfig       `json:"EdgeConfig"`
}

func newEdgeOutput(st *catalog.Stream, rec edgeRecord) edgeOutput {
	return edgeOutput{
		StreamName:          st.Name,
		StreamARN:           st.ARN,
		CreationTime:        awsapi.TimestampOf(rec.CreationTime),
		LastUpdatedTime:     awsapi.TimestampOf(rec.LastUpdatedTime),
		SyncStatus:          rec.SyncStatus,
		FailedStatusDetails: rec.FailedStatusDetails,
		EdgeConfig:          rec.EdgeConfig,
	}
}

func errNoEdgeConfig() error {
	return awsapi.Errorf(awsapi.StreamEdgeConfigurationNotFound, "The stream has no edge configuration.")
}

type startEdgeConfigurationUpdateInput struct {
	streamRef
	EdgeConfig *edgeConfig `json:"EdgeConfig"`
}

// startEdgeConfigurationUpdate serves StartEdgeConfigurationUpdate
// (stored-only). The stream must retain data.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_StartEdgeConfigurationUpdate.html
func (s *Service) startEdgeConfigurationUpdate(ctx context.Context, _ *http.Request, in *startEdgeConfigurationUpdateInput) (any, error) {
	var v validator
	in.validate(&v)
	if v.required("edgeConfig", in.EdgeConfig != nil) {
		in.EdgeConfig.validate(&v, "edgeConfig")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	now := s.nowMillis()
	var rec edgeRecord
	st, err := s.mutateStream(ctx, &in.streamRef, nil, func(st *catalog.Stream) error {
		if st.DataRetentionInHours == 0 {
			return errNoRetention()
		}
		old, ok := edgeOf(st)
		rec = edgeRecord{EdgeConfig: in.EdgeConfig, SyncStatus: "SYNCING", CreationTime: now, LastUpdatedTime: now}
		if ok {
			rec.CreationTime = old.CreationTime
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode edge configuration: %w", err)
		}
		st.Edge = raw
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newEdgeOutput(st, rec), nil
}

// describeEdgeConfiguration serves DescribeEdgeConfiguration
// (stored-only; there is no EdgeAgentStatus to report).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DescribeEdgeConfiguration.html
func (s *Service) describeEdgeConfiguration(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.getStream(ctx, in)
	if err != nil {
		return nil, err
	}
	rec, ok := edgeOf(st)
	if !ok {
		return nil, errNoEdgeConfig()
	}
	return newEdgeOutput(st, rec), nil
}

// deleteEdgeConfiguration serves DeleteEdgeConfiguration (stored-only; the
// configuration is gone at once rather than after an agent acknowledged).
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_DeleteEdgeConfiguration.html
func (s *Service) deleteEdgeConfiguration(ctx context.Context, _ *http.Request, in *streamRef) (any, error) {
	var v validator
	in.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	_, err := s.mutateStream(ctx, in, nil, func(st *catalog.Stream) error {
		if _, ok := edgeOf(st); !ok {
			return errNoEdgeConfig()
		}
		st.Edge = nil
		return nil
	})
	return nil, err
}

type listEdgeAgentConfigurationsInput struct {
	HubDeviceArn *string `json:"HubDeviceArn"`
	MaxResults   *int64  `json:"MaxResults"`
	NextToken    *string `json:"NextToken"`
}

type listEdgeAgentConfigurationsOutput struct {
	EdgeConfigs []edgeOutput `json:"EdgeConfigs"`
	NextToken   string       `json:"NextToken,omitempty"`
}

// listEdgeAgentConfigurations serves ListEdgeAgentConfigurations: the edge
// configurations naming HubDeviceArn, in stream name order, 5 per page
// unless MaxResults says otherwise.
// https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_ListEdgeAgentConfigurations.html
func (s *Service) listEdgeAgentConfigurations(ctx context.Context, _ *http.Request, in *listEdgeAgentConfigurationsInput) (any, error) {
	var v validator
	v.reqStr("hubDeviceArn", in.HubDeviceArn, 1, 1024, hubDevicePattern, `arn:[a-z\d-]+:iot:[a-z0-9-]+:[0-9]+:thing/[a-zA-Z0-9_.-]+`)
	v.num("maxResults", in.MaxResults, 1, 10)
	v.nextToken("nextToken", in.NextToken)
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := 5
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	var after string
	if in.NextToken != nil {
		var err error
		if after, err = decodeToken(tokenEdge, *in.NextToken); err != nil {
			return nil, err
		}
	}
	out := listEdgeAgentConfigurationsOutput{EdgeConfigs: []edgeOutput{}}
	const batch = 1000
	for {
		page, err := s.store.ListStreams(ctx, catalog.ListOptions{After: after, Limit: batch})
		if err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		for _, st := range page {
			rec, ok := edgeOf(st)
			if !ok || rec.EdgeConfig.HubDeviceArn == nil || *rec.EdgeConfig.HubDeviceArn != *in.HubDeviceArn {
				continue
			}
			if len(out.EdgeConfigs) == limit {
				last := out.EdgeConfigs[limit-1].StreamName
				out.NextToken = encodeToken(tokenEdge, last)
				return out, nil
			}
			out.EdgeConfigs = append(out.EdgeConfigs, newEdgeOutput(st, rec))
		}
		if len(page) < batch {
			return out, nil
		}
		after = page[len(page)-1].Name
	}
}
